//! packhooks as a library: settings, telemetry, the store's metrics, the application
//! (`startup`) and the command line (`cli`). `main.rs` only parses the command line and runs it, so tests start the very
//! same application with [`startup::Application::build`].

pub mod cli;
pub mod metrics;
pub mod settings;
pub mod startup;
pub mod telemetry;

pub use settings::Settings;
pub use startup::Application;
