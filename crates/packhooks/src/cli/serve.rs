//! `packhooks serve`: load the settings, set up logging, build the application, run it until
//! SIGTERM or SIGINT.

use anyhow::Context as _;
use clap::Args;

use crate::settings::{Overrides, Settings};
use crate::startup::Application;
use crate::telemetry;

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub settings: Overrides,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::load(&args.settings).context("invalid settings")?;
    telemetry::init(&settings.log);
    let application = Application::build(settings).await.context("cannot start")?;
    application.run_until_stopped().await.context("stopped with an error")
}
