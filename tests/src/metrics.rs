//! `/metrics` as Prometheus reads it: the text parsed by `prometheus-parse`, with lookups by
//! name and labels, so tests assert on samples and never search the text.

use prometheus_parse::{Sample, Scrape, Value};

/// One scrape of `/metrics`, parsed.
pub struct Metrics(pub Scrape);

impl Metrics {
    /// Parses a page in the Prometheus text format.
    pub fn parse(text: &str) -> Metrics {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        Metrics(Scrape::parse(lines).expect("the page parses as the Prometheus text format"))
    }

    /// The samples named `name` whose labels include every one of `labels`.
    pub fn samples<'a>(&'a self, name: &'a str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = &'a Sample> {
        self.0
            .samples
            .iter()
            .filter(move |s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
    }

    /// The sum of the counter, gauge or untyped samples `name` with `labels` (0 when none).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, labels)
            .map(|s| match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                _ => panic!("{name} is not a single value"),
            })
            .sum()
    }

    /// The observations of histogram `name` (its `+Inf` bucket), summed over the series
    /// with `labels`.
    pub fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, labels)
            .map(|s| match &s.value {
                Value::Histogram(buckets) => {
                    buckets.iter().find(|b| b.less_than.is_infinite()).expect("a +Inf bucket").count
                }
                _ => panic!("{name} is not a histogram"),
            })
            .sum()
    }

    /// Whether a metric of this name was documented (`# HELP`), with or without samples.
    pub fn has(&self, name: &str) -> bool {
        self.0.docs.contains_key(name)
    }

    /// Every value the label `label` takes on samples of `name`.
    pub fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        self.samples(name, &[]).filter_map(|s| s.labels.get(label).map(str::to_owned)).collect()
    }
}
