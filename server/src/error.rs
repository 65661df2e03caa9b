//! The one error type of the HTTP API. Each kind maps to a status and a stable
//! [`ErrorCode`] from `shared`, so tablets match on codes, never on messages. Messages say what
//! to do next; internal details go to the log, never to the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use rollcall_shared::protocol::{ErrorBody, ErrorInfo};
use rollcall_shared::{ErrorCode, ValidationCode, ValidationError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The body or query is not what the endpoint takes.
    #[error("{0}")]
    BadRequest(String),
    /// A well-formed request breaks a rule on its values.
    #[error("{0}")]
    Validation(ValidationError),
    /// No token, or one that is expired, forged or for another audience.
    #[error("{0}")]
    Unauthorized(String),
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("{0}")]
    InvalidRefreshToken(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    TooManyOps(String),
    #[error("too many attempts: wait {retry_after_secs} s before trying again")]
    RateLimited { retry_after_secs: u64 },
    /// The database cannot be reached or is overloaded: worth retrying.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure. The text is logged, not sent.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::BadRequest(_) => ErrorCode::BadRequest,
            AppError::Validation(_) => ErrorCode::Validation,
            AppError::Unauthorized(_) => ErrorCode::Unauthorized,
            AppError::InvalidCredentials => ErrorCode::InvalidCredentials,
            AppError::InvalidRefreshToken(_) => ErrorCode::InvalidRefreshToken,
            AppError::Forbidden(_) => ErrorCode::Forbidden,
            AppError::NotFound(_) => ErrorCode::NotFound,
            AppError::Conflict(_) => ErrorCode::Conflict,
            AppError::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            AppError::TooManyOps(_) => ErrorCode::TooManyOps,
            AppError::RateLimited { .. } => ErrorCode::RateLimited,
            AppError::Unavailable(_) => ErrorCode::Unavailable,
            AppError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The body sent to the client.
    pub fn body(&self) -> ErrorBody {
        let message = match self {
            AppError::Internal(_) => {
                "the server hit an unexpected error; nothing was changed. Try again, and if it persists \
                 ask your school IT to check the server log"
                    .to_owned()
            }
            AppError::Validation(error) => error.message.clone(),
            other => other.to_string(),
        };
        let detail = match self {
            AppError::Validation(error) => Some(error.code),
            _ => None,
        };
        error_body(self.code(), message, detail)
    }
}

/// The body of an error answer, with the id of the request being served
/// (docs/observability.md, "Request ids"). Every error body is made here.
pub fn error_body(code: ErrorCode, message: String, detail: Option<ValidationCode>) -> ErrorBody {
    ErrorBody {
        error: ErrorInfo {
            code,
            message,
            detail,
            request_id: crate::logging::request_id(),
        },
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) | AppError::Validation(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) | AppError::InvalidCredentials | AppError::InvalidRefreshToken(_) => {
                StatusCode::UNAUTHORIZED
            }
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge(_) | AppError::TooManyOps(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::Internal(detail) => tracing::error!(%detail, "request failed"),
            AppError::Unavailable(detail) => tracing::warn!(%detail, "database unavailable"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let AppError::RateLimited { retry_after_secs } = self {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_secs)));
        }
        if let AppError::Unavailable(_) = self {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(5u64)));
        }
        response.json(self.body())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => AppError::NotFound("no such record".to_owned()),
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                AppError::Unavailable(format!("the database connection closed: {}", info.message()))
            }
            // SQLite reports "database is locked" when busy_timeout ran out.
            Error::DatabaseError(_, ref info) if info.message().contains("database is locked") => {
                AppError::Unavailable(format!("the database stayed busy too long: {}", info.message()))
            }
            other => AppError::Internal(format!("database error: {other}")),
        }
    }
}

impl From<ValidationError> for AppError {
    fn from(error: ValidationError) -> Self {
        AppError::Validation(error)
    }
}
