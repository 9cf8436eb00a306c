//! JSON request bodies: the [`ApiJson`] extractor and the [`json_config`] for plain `web::Json`.
//!
//! Bodies are limited to [`BODY_LIMIT`] bytes and must be `application/json`. Deserialisation
//! goes through `serde_path_to_error`, so a refusal names the field at fault
//! (`candidate.email`, `events[1]`) along with a stable code, and through
//! [`objects::ObjectsOnly`], so an array where an object belongs is a wrong type rather than
//! a struct read field by field.

mod objects;

use actix_web::error::JsonPayloadError;
use actix_web::http::header;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures::future::LocalBoxFuture;
use futures::StreamExt as _;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use self::objects::ObjectsOnly;

use crate::error::{ApiError, JsonProblem};

/// The largest request body accepted (64 KiB); anything larger is 413 `body_too_large`.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON request body, validated as described in the module docs.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = is_json(req);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            if declared.is_some_and(|n| n > BODY_LIMIT) {
                return Err(ApiError::BodyTooLarge { limit: BODY_LIMIT });
            }
            // A small body arrives as one chunk: it is parsed where it lies. Only a body in
            // several chunks is copied into one buffer.
            let mut single: Option<web::Bytes> = None;
            let mut joined = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(ApiError::from_payload)?;
                let so_far = single.as_ref().map_or(joined.len(), web::Bytes::len);
                if so_far + chunk.len() > BODY_LIMIT {
                    return Err(ApiError::BodyTooLarge { limit: BODY_LIMIT });
                }
                match single.take() {
                    None if joined.is_empty() => single = Some(chunk),
                    None => joined.extend_from_slice(&chunk),
                    Some(first) => {
                        joined.reserve(declared.unwrap_or(first.len() + chunk.len()).min(BODY_LIMIT));
                        joined.extend_from_slice(&first);
                        joined.extend_from_slice(&chunk);
                    }
                }
            }
            parse(single.as_deref().unwrap_or(&joined)).map(ApiJson)
        })
    }
}

/// `application/json` or any `application/*+json`, in any letter case.
fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some(subtype) = strip_prefix_ignore_case(essence, "application/") else {
        return false;
    };
    subtype.eq_ignore_ascii_case("json")
        || subtype.len() >= "+json".len()
            && subtype.is_char_boundary(subtype.len() - "+json".len())
            && subtype[subtype.len() - "+json".len()..].eq_ignore_ascii_case("+json")
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// Deserialises `body` as a `T`, naming the field at fault when it fails.
///
/// ```
/// #[derive(Debug, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct PlanIn {
///     plan: String,
/// }
///
/// let refused = packhooks_api::json::parse::<PlanIn>(br#"{"plan":"growth","colour":"red"}"#).unwrap_err();
/// assert_eq!(refused.code(), "unknown_field");
/// assert_eq!(refused.field().as_deref(), Some("colour"));
/// assert_eq!(packhooks_api::json::parse::<PlanIn>(br#"{"plan":"growth"}"#).unwrap().plan, "growth");
/// ```
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Tracking the path costs an allocation per key, and only a refusal needs it: a body is
    // parsed plainly first, and only a refused one again with tracking. Deserialising is
    // deterministic, so the second pass fails where the first did, with the same error.
    let mut de = serde_json::Deserializer::from_slice(body);
    if let Ok(value) = T::deserialize(ObjectsOnly(&mut de)).and_then(|value| de.end().map(|()| value)) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(ObjectsOnly(&mut de)).map_err(|e| {
        let path = e.path().to_string();
        let source = e.into_inner();
        let problem = classify(&source, Some(body));
        let field = (problem != JsonProblem::Malformed).then(|| field_of(&path, &source)).flatten();
        ApiError::Json { problem, field, source }
    })?;
    de.end().map_err(|source| ApiError::Json { problem: JsonProblem::Malformed, field: None, source })?;
    Ok(value)
}

/// What `e` says is wrong with the body. serde_json reports a value that is not a string or
/// an object where an enum belongs (`"plan": 1`) as the syntax error "expected value"; when
/// the body (if at hand) is well-formed JSON, that is a wrong type at the path.
fn classify(e: &serde_json::Error, body: Option<&[u8]>) -> JsonProblem {
    let wrong_type = || {
        e.to_string().starts_with("expected value")
            && body.is_some_and(|b| serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok())
    };
    match e.classify() {
        Category::Syntax if wrong_type() => JsonProblem::InvalidType,
        Category::Io | Category::Syntax | Category::Eof => JsonProblem::Malformed,
        Category::Data => {
            let message = e.to_string();
            if message.starts_with("unknown field") {
                JsonProblem::UnknownField
            } else if message.starts_with("missing field") {
                JsonProblem::MissingField
            } else if message.starts_with("invalid type") {
                JsonProblem::InvalidType
            } else {
                JsonProblem::InvalidValue
            }
        }
    }
}

/// The JSON path of the field at fault. serde reports unknown, missing and duplicate fields
/// at their parent, with the name in backticks in the message; that name is appended to the path.
fn field_of(path: &str, e: &serde_json::Error) -> Option<String> {
    let parent = if path == "." { "" } else { path };
    let message = e.to_string();
    let named = ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match named {
        Some(name) if parent.is_empty() => Some(name.to_owned()),
        Some(name) if parent.ends_with(&format!(".{name}")) || parent == name => Some(parent.to_owned()),
        Some(name) => Some(format!("{parent}.{name}")),
        None if parent.is_empty() => None,
        None => Some(parent.to_owned()),
    }
}

/// A `web::Json` configuration with the same limit and codes as [`ApiJson`] (without the
/// field path, which `web::Json` does not keep), for routes that use the plain extractor.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(BODY_LIMIT).error_handler(|err, _req| {
        let api = match err {
            JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
                ApiError::BodyTooLarge { limit: BODY_LIMIT }
            }
            JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
            JsonPayloadError::Deserialize(source) => {
                ApiError::Json { problem: classify(&source, None), field: None, source }
            }
            JsonPayloadError::Payload(e) => ApiError::from_payload(e),
            other => ApiError::internal(other),
        };
        api.into()
    })
}

#[cfg(test)]
mod tests {
    use actix_web::error::PayloadError;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        count: u32,
        tags: Vec<String>,
    }

    fn refusal(body: &str) -> (JsonProblem, Option<String>) {
        match parse::<Outer>(body.as_bytes()) {
            Err(ApiError::Json { problem, field, .. }) => (problem, field),
            other => panic!("expected a JSON refusal, got {other:?}"),
        }
    }

    /// `body` as `ApiJson<Outer>` read from a payload delivered in `chunks` pieces.
    async fn extracted(body: &str, chunks: usize) -> Result<Outer, ApiError> {
        let size = body.len().div_ceil(chunks);
        let pieces: Vec<_> =
            body.as_bytes().chunks(size).map(|c| Ok::<_, PayloadError>(web::Bytes::copy_from_slice(c))).collect();
        let stream: std::pin::Pin<Box<dyn futures::Stream<Item = Result<web::Bytes, PayloadError>>>> =
            Box::pin(futures::stream::iter(pieces));
        let request = actix_web::test::TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .to_http_request();
        ApiJson::<Outer>::from_request(&request, &mut Payload::from(stream)).await.map(ApiJson::into_inner)
    }

    #[actix_web::test]
    async fn a_body_in_one_chunk_or_several_reads_the_same() {
        let body = r#"{"name":"ada","inner":{"count":3,"tags":["a","b"]}}"#;
        for chunks in [1, 2, 3, body.len()] {
            let outer = extracted(body, chunks).await.unwrap_or_else(|e| panic!("{chunks} chunks: {e}"));
            assert_eq!((outer.name.as_str(), outer.inner.count, outer.inner.tags.len()), ("ada", 3, 2));
        }
        let large = format!(r#"{{"name":"{}","inner":{{"count":1,"tags":[]}}}}"#, "x".repeat(BODY_LIMIT));
        for chunks in [1, 5] {
            assert!(matches!(extracted(&large, chunks).await, Err(ApiError::BodyTooLarge { .. })), "{chunks} chunks");
        }
    }

    #[test]
    fn json_media_types_are_recognised_in_any_case() {
        let with = |value: &str| {
            is_json(
                &actix_web::test::TestRequest::default().insert_header((header::CONTENT_TYPE, value)).to_http_request(),
            )
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with(" application/problem+json "));
        assert!(with("application/VND.API+Json"));
        assert!(!with("text/json"));
        assert!(!with("application/jsonx"));
        assert!(!with("application/json+xml"));
        assert!(!with("application"));
        assert!(!with(""));
        assert!(!is_json(&actix_web::test::TestRequest::default().to_http_request()));
    }

    #[test]
    fn each_kind_of_bad_body_gets_its_code_and_field() {
        assert_eq!(refusal("{"), (JsonProblem::Malformed, None));
        assert_eq!(refusal(r#"{"name":"a","inner":{"count":1,"tags":[]}} x"#), (JsonProblem::Malformed, None));
        assert_eq!(
            refusal(r#"{"name":"a","inner":{"count":1,"tags":[],"extra":1}}"#),
            (JsonProblem::UnknownField, Some("inner.extra".into()))
        );
        assert_eq!(refusal(r#"{"nme":"a"}"#), (JsonProblem::UnknownField, Some("nme".into())));
        assert_eq!(
            refusal(r#"{"name":"a","inner":{"tags":[]}}"#),
            (JsonProblem::MissingField, Some("inner.count".into()))
        );
        assert_eq!(refusal(r#"{"inner":{"count":1,"tags":[]}}"#), (JsonProblem::MissingField, Some("name".into())));
        assert_eq!(
            refusal(r#"{"name":"a","inner":{"count":1,"tags":["x",2]}}"#),
            (JsonProblem::InvalidType, Some("inner.tags[1]".into()))
        );
        assert_eq!(refusal(r#"{"name":7}"#), (JsonProblem::InvalidType, Some("name".into())));
    }

    #[test]
    fn an_array_where_an_object_belongs_is_a_wrong_type_at_any_depth() {
        assert_eq!(refusal(r#"["a",{"count":1,"tags":[]}]"#), (JsonProblem::InvalidType, None));
        assert_eq!(refusal(r#"{"name":"a","inner":[1,["x"]]}"#), (JsonProblem::InvalidType, Some("inner".into())));
        #[derive(Debug, Deserialize)]
        struct Wrapper {
            #[allow(dead_code)]
            items: Vec<Option<Inner>>,
        }
        let refused = parse::<Wrapper>(br#"{"items":[null,[1,[]]]}"#).unwrap_err();
        assert_eq!((refused.code(), refused.field().as_deref()), ("invalid_type", Some("items[1]")));
        assert!(parse::<Wrapper>(br#"{"items":[null,{"count":1,"tags":["x"]}]}"#).is_ok());
    }
}
