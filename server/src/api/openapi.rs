//! The OpenAPI document served at `/api/openapi.json`: [`ApiDoc`] lists every handler and the
//! wire types, and says once what holds for every operation.
//!
//! The schemas are derived from the very types the server sends and reads (`rollcall_shared`'s
//! `openapi` feature), so the document cannot describe a key or a type the wire does not have.
//! The tests at the bottom validate real serialized values against it, every object closed to
//! keys the document does not list; `server/tests/openapi.rs` does the same with real answers.

use crate::api::observe::{REQUEST_ID_HEADER, REQUEST_ID_PATTERN};
use crate::api::{auth, events, health, locks, sync};
use rollcall_shared::protocol::{
    ChangeNotice, ClassInfo, EnrolmentInfo, ErrorBody, ErrorInfo, LoginRequest, LoginResponse, OpResult,
    PROTOCOL_HEADER, PROTOCOL_VERSION, PeriodInfo, PullResponse, PushRequest, PushResponse, Roster, SchoolInfo,
    StudentInfo, UserInfo,
};
use rollcall_shared::{RawChange, RawOp};
use serde_json::json;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Rollcall",
        description = "Offline-first attendance: sync protocol v1 (every response carries `Rollcall-Protocol: 1` and \
                       an `X-Request-Id`; errors are `{\"error\": {\"code\", \"message\", \"detail\"?, \"request_id\"}}`)."
    ),
    paths(
        auth::login_user,
        auth::refresh_session,
        auth::logout_session,
        crate::api::roster::get_roster,
        sync::push_ops,
        sync::pull_changes,
        events::stream_events,
        locks::create_lock,
        locks::list_locks,
        locks::reopen_lock,
        health::get_health,
        get_openapi,
        crate::api::metrics::get_metrics,
    ),
    components(schemas(
        LoginRequest,
        LoginResponse,
        UserInfo,
        Roster,
        SchoolInfo,
        PeriodInfo,
        ClassInfo,
        StudentInfo,
        EnrolmentInfo,
        PushRequest,
        RawOp,
        PushResponse,
        OpResult,
        PullResponse,
        RawChange,
        ErrorBody,
        ErrorInfo,
        ChangeNotice,
        locks::CreateLockRequest,
        locks::ReopenLockRequest,
        locks::LockInfo,
    )),
    modifiers(&BearerAuth, &Conventions, &EventStream),
    tags(
        (name = "auth", description = "Sign in, refresh, sign out"),
        (name = "roster", description = "What the caller may see"),
        (name = "sync", description = "Push ops, pull changes, hear about new ones"),
        (name = "admin", description = "Office tools (admins only)"),
        (name = "health", description = "For monitoring"),
    )
)]
pub struct ApiDoc;

#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access_token from login or refresh, valid for at most 15 minutes",
                    ))
                    .build(),
            ),
        );
    }
}

/// What holds for every operation, said once here rather than on each handler: every answer
/// carries `Rollcall-Protocol` and `X-Request-Id`; a body can be malformed (400) or over its limit (413); a token can
/// be missing or bad (401); an office tool (tag `admin`, behind the `AdminUser` extractor) refuses
/// a teacher (403); the database can be unavailable (503). A handler that says more about one of
/// these (e.g. push's 413) documents it itself, and that description stays.
#[derive(Debug)]
struct Conventions;

/// The tag of the office tools, which only admins may use.
const ADMIN_TAG: &str = "admin";

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                if operation.request_body.is_some() {
                    add_error(
                        operation,
                        "400",
                        "The body is malformed or not sent as `application/json` (BAD_REQUEST); nothing was changed",
                    );
                    add_error(
                        operation,
                        "413",
                        "The body is over its size limit (PAYLOAD_TOO_LARGE); nothing was changed",
                    );
                }
                if operation.security.as_ref().is_some_and(|security| !security.is_empty()) {
                    add_error(
                        operation,
                        "401",
                        "No token, or one that is expired or bad (UNAUTHORIZED)",
                    );
                }
                if operation
                    .tags
                    .as_ref()
                    .is_some_and(|tags| tags.iter().any(|tag| tag == ADMIN_TAG))
                {
                    add_error(operation, "403", "Not an admin (FORBIDDEN)");
                }
                if path != "/api/openapi.json" {
                    add_error(
                        operation,
                        "503",
                        "The database is unavailable (UNAVAILABLE); nothing was changed, retry",
                    );
                }
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response.headers.insert(
                            PROTOCOL_HEADER.to_owned(),
                            HeaderBuilder::new()
                                .schema(
                                    ObjectBuilder::new()
                                        .schema_type(Type::String)
                                        .enum_values(Some([PROTOCOL_VERSION])),
                                )
                                .description(Some("The sync protocol version; on every response"))
                                .build(),
                        );
                        response.headers.insert(
                            REQUEST_ID_HEADER.to_owned(),
                            HeaderBuilder::new()
                                .schema(
                                    ObjectBuilder::new()
                                        .schema_type(Type::String)
                                        .pattern(Some(REQUEST_ID_PATTERN)),
                                )
                                .description(Some(
                                    "The request's id, as in an error body's `request_id` and in the server's log lines \
                                     about it; on every response",
                                ))
                                .build(),
                        );
                    }
                }
            }
        }
    }
}

/// Documents an error answer of an operation, unless its handler already does.
fn add_error(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                )
                .build()
                .into()
        });
}

/// `GET /api/v1/events` answers a stream of server-sent events. Before OpenAPI 3.2 (which adds
/// `itemSchema`), the `schema` of a `text/event-stream` describes each event, as tools such as
/// Schemathesis read it: an object of the event's fields (`event`, `data`, `retry`), `data` being
/// the JSON text. The frames are those `events::stream_events` writes.
#[derive(Debug)]
struct EventStream;

impl Modify for EventStream {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(RefOr::T(ok)) = openapi
            .paths
            .paths
            .get_mut("/api/v1/events")
            .and_then(|item| item.get.as_mut())
            .and_then(|operation| operation.responses.responses.get_mut("200"))
        else {
            return;
        };
        let name = |name: &'static str| ObjectBuilder::new().schema_type(Type::String).enum_values(Some([name]));
        let ready = ObjectBuilder::new()
            .title(Some("ready"))
            .description(Some(
                "Sent once, first: the stream is open. Reconnect after `retry` ms if it drops.",
            ))
            .property("event", name("ready"))
            .property("data", name("{}").content_media_type("application/json"))
            .property(
                "retry",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .enum_values(Some([5000])),
            )
            .required("event")
            .required("data");
        let changes_data = ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/json")
            .description(Some(
                "A ChangesEvent as JSON: `{\"class_ids\": [...], \"device_id\": \"...\"}`, or `{}` when the server missed which",
            ))
            .examples([
                json!("{\"class_ids\":[\"0b7e2d1c-4f3a-4c55-9d7e-2a1b3c4d5e6f\"],\"device_id\":\"9f2c4a1b7d3e5f60\"}"),
                json!("{}"),
            ])
            // utoipa has no builder for `contentSchema` (JSON Schema 2020-12, an annotation).
            .extensions(Some(Extensions::from_iter([(
                "contentSchema",
                json!({"$ref": "#/components/schemas/ChangesEvent"}),
            )])));
        let changes = ObjectBuilder::new()
            .title(Some("changes"))
            .description(Some(
                "Sent after each committed batch of changes the caller may see: pull them with your cursor",
            ))
            .property("event", name("changes"))
            .property("data", changes_data)
            .required("event")
            .required("data");
        let event = OneOfBuilder::new()
            .description(Some(format!(
                "One event of the stream (UTF-8, a blank line after each; the stream has no end of its own). Between \
                 events, after {} s of quiet, the server sends a `{}` comment line, which is not an event.",
                events::KEEPALIVE.as_secs(),
                events::KEEPALIVE_FRAME.trim_end()
            )))
            .item(ready)
            .item(changes);
        ok.content.clear();
        ok.content
            .insert("text/event-stream".to_owned(), Content::new(Some(event)));
    }
}

/// `GET /api/openapi.json`
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "health",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
pub async fn get_openapi() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    #[test]
    fn the_documented_cursor_is_the_one_the_server_takes() {
        let doc = document();
        let parameters = doc["paths"]["/api/v1/sync/pull"]["get"]["parameters"]
            .as_array()
            .unwrap();
        let cursor = parameters.iter().find(|p| p["name"] == "cursor").unwrap();
        assert_eq!(cursor["in"], "query");
        assert_eq!(cursor["schema"]["pattern"], rollcall_shared::protocol::CURSOR_PATTERN);
        assert_eq!(
            doc["components"]["schemas"]["PullResponse"]["properties"]["cursor"]["pattern"],
            rollcall_shared::protocol::CURSOR_PATTERN
        );
        let limit = parameters.iter().find(|p| p["name"] == "limit").unwrap();
        assert_eq!(
            (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
            (&json!(1), &json!(rollcall_shared::protocol::MAX_PULL_LIMIT))
        );
    }

    #[test]
    fn the_events_token_is_a_query_parameter() {
        let doc = document();
        let parameters = doc["paths"]["/api/v1/events"]["get"]["parameters"].as_array().unwrap();
        assert_eq!(parameters.len(), 1);
        assert_eq!(
            (&parameters[0]["name"], &parameters[0]["in"]),
            (&json!("access_token"), &json!("query"))
        );
    }
}
