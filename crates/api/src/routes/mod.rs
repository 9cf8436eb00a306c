//! The routes, one module per group. Each module has `configure(&mut ServiceConfig)` and a
//! `Doc` (`#[derive(utoipa::OpenApi)]`) listing its handlers; registering a module is adding
//! its name to the `route_modules!` line below.

use actix_web::web;
use utoipa::OpenApi as _;

macro_rules! route_modules {
    ($($module:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Registers every module's routes.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $($module::configure(cfg);)*
        }

        /// Every module's paths and schemas, merged into one document.
        pub fn openapi() -> utoipa::openapi::OpenApi {
            let mut doc = crate::openapi::ApiDoc::openapi();
            $(doc.merge($module::Doc::openapi());)*
            doc
        }
    };
}

// Submissions first: they are the hot path, and actix tries routes in registration order.
route_modules!(
    submissions,
    health,
    metrics,
    accounts,
    webhooks,
    stats,
    attempts,
    deliveries,
    audit,
    ops,
    test_events,
    submission_view,
);

pub(crate) mod read;
pub mod webhook_views;
