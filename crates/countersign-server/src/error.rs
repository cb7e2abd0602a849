//! The HTTP edge of errors: every failure becomes a status, a stable code (countersign-proto's
//! `codes`) and a message for people — as an HTML page on page routes and as JSON elsewhere.
//! Internal detail (store errors, signing failures) is logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use countersign_core::push::DeviceError;
use countersign_core::CoreError;
use countersign_proto::{codes, ErrorBody};

#[derive(Debug, Clone)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            codes::CSRF,
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        )
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "Something went wrong on our side. Try again in a moment.",
        )
    }
}

impl From<CoreError> for AppError {
    fn from(e: CoreError) -> Self {
        match &e {
            CoreError::NotFound { .. } => AppError::not_found(e.to_string()),
            CoreError::Conflict(_) => {
                AppError::new(StatusCode::CONFLICT, codes::CONFLICT, e.to_string())
            }
            CoreError::Invalid { .. } => AppError::bad_request(e.to_string()),
            CoreError::MethodNotSupported => AppError::new(
                StatusCode::FORBIDDEN,
                codes::METHOD_NOT_SUPPORTED,
                e.to_string(),
            ),
            CoreError::Forbidden(m) => {
                AppError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, m.clone())
            }
            CoreError::SignInFailed => AppError::new(
                StatusCode::UNAUTHORIZED,
                codes::SIGN_IN_FAILED,
                "Your account or password is incorrect.",
            ),
            CoreError::FlowExpired => AppError::new(
                StatusCode::BAD_REQUEST,
                codes::FLOW_EXPIRED,
                "This sign-in page has expired. Start again.",
            ),
            CoreError::Busy => AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::BUSY,
                "We're busy right now. Try again in a moment.",
            ),
            CoreError::Device(d) => device_error(d),
            CoreError::OAuth(o) => AppError::bad_request(o.description.clone()),
            CoreError::Signing(_) | CoreError::Internal(_) | CoreError::Store(_) => {
                tracing::error!(error = %e, "internal error");
                AppError::internal()
            }
        }
    }
}

/// A device's refusal: its status and stable code from the device protocol.
fn device_error(d: &DeviceError) -> AppError {
    use countersign_proto::device::codes as c;
    let (status, code) = match d {
        DeviceError::ActivationInvalid => (StatusCode::BAD_REQUEST, c::ACTIVATION_INVALID),
        DeviceError::BadSignature => (StatusCode::UNAUTHORIZED, c::BAD_SIGNATURE),
        DeviceError::DeviceUnknown => (StatusCode::UNAUTHORIZED, c::DEVICE_UNKNOWN),
        DeviceError::AppVersionUnsupported { .. } => {
            (StatusCode::UPGRADE_REQUIRED, c::APP_VERSION_UNSUPPORTED)
        }
        DeviceError::RequestNotFound => (StatusCode::NOT_FOUND, c::REQUEST_NOT_FOUND),
        DeviceError::RequestExpired => (StatusCode::GONE, c::REQUEST_EXPIRED),
        DeviceError::RequestAnswered => (StatusCode::CONFLICT, c::REQUEST_ANSWERED),
        DeviceError::WrongNumber => (StatusCode::BAD_REQUEST, c::WRONG_NUMBER),
        DeviceError::PassInvalid => (StatusCode::UNAUTHORIZED, c::PASS_INVALID),
        DeviceError::PhoneSignInNotAllowed => (
            StatusCode::FORBIDDEN,
            countersign_proto::codes::METHOD_NOT_SUPPORTED,
        ),
        DeviceError::PhoneSignInLimit { .. } => (StatusCode::CONFLICT, c::PHONE_SIGN_IN_LIMIT),
        DeviceError::PhoneSignInNotEnabled => (StatusCode::FORBIDDEN, c::PHONE_SIGN_IN_NOT_ENABLED),
        DeviceError::PinRequired => (StatusCode::BAD_REQUEST, c::PIN_REQUIRED),
    };
    AppError::new(status, code, d.to_string())
}

/// JSON rendering, for API routes.
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.code.to_string(),
                message: self.message,
            }),
        )
            .into_response()
    }
}

/// HTML rendering, for page routes.
#[derive(Debug)]
pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        crate::pages::error_page(&self.0)
    }
}
