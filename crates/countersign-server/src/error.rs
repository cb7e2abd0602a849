//! The HTTP edge of errors, the one place a failure becomes a status, a stable code
//! (countersign-proto's `codes`) and a message for people: [`ApiError`] renders JSON (the device
//! API), [`PageError`] the same as an HTML page (the web pages). OAuth's endpoints answer with
//! RFC 6749's own bodies (`oidc`). Internal detail (store errors, signing failures) is logged,
//! never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use countersign_core::error::DeviceError;
use countersign_core::methods::passkey::NotAdded;
use countersign_core::CoreError;
use countersign_proto::{codes, ErrorBody};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
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

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match &e {
            CoreError::NotFound { .. } => ApiError::not_found(e.to_string()),
            CoreError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, codes::CONFLICT, e.to_string())
            }
            CoreError::Invalid { .. } => ApiError::bad_request(e.to_string()),
            CoreError::MethodNotSupported => ApiError::new(
                StatusCode::FORBIDDEN,
                codes::METHOD_NOT_SUPPORTED,
                e.to_string(),
            ),
            CoreError::Forbidden(m) => {
                ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, m.clone())
            }
            CoreError::SignInFailed => ApiError::new(
                StatusCode::UNAUTHORIZED,
                codes::SIGN_IN_FAILED,
                "Your account or password is incorrect.",
            ),
            CoreError::FlowExpired => ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::FLOW_EXPIRED,
                "This sign-in page has expired. Start again.",
            ),
            CoreError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::BUSY,
                "We're busy right now. Try again in a moment.",
            ),
            CoreError::Device(d) => device_error(d),
            CoreError::OAuth(o) => ApiError::bad_request(o.description.clone()),
            CoreError::Signing(_) | CoreError::Internal(_) | CoreError::Store(_) => {
                tracing::error!(error = %e, "internal error");
                ApiError::internal()
            }
        }
    }
}

/// A device's refusal: its status and stable code from the device protocol.
fn device_error(d: &DeviceError) -> ApiError {
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
        DeviceError::PhoneSignInNotAllowed => (StatusCode::FORBIDDEN, codes::METHOD_NOT_SUPPORTED),
        DeviceError::PhoneSignInLimit { .. } => (StatusCode::CONFLICT, c::PHONE_SIGN_IN_LIMIT),
        DeviceError::PhoneSignInNotEnabled => (StatusCode::FORBIDDEN, c::PHONE_SIGN_IN_NOT_ENABLED),
        DeviceError::PinRequired => (StatusCode::BAD_REQUEST, c::PIN_REQUIRED),
    };
    ApiError::new(status, code, d.to_string())
}

/// A passkey that could not be added, in the words security info and the device API both use.
impl From<NotAdded> for ApiError {
    fn from(e: NotAdded) -> Self {
        use countersign_proto::device::codes::PASSKEY_REFUSED;
        let (status, code, message) = match e {
            NotAdded::Refused(r) => {
                tracing::info!(reason = %r.0, "passkey registration refused");
                (
                    StatusCode::BAD_REQUEST,
                    PASSKEY_REFUSED,
                    "We couldn't register that passkey. Try again.",
                )
            }
            NotAdded::NotAttested(why) => {
                if let Some(r) = why {
                    tracing::info!(reason = %r.0, "passkey attestation refused");
                }
                (
                    StatusCode::FORBIDDEN,
                    codes::METHOD_NOT_SUPPORTED,
                    "Your organization only allows passkeys whose maker can be verified, and this \
                     one's can't be. Use a security key your organization provides.",
                )
            }
            NotAdded::TypeNotAllowed => (
                StatusCode::FORBIDDEN,
                codes::METHOD_NOT_SUPPORTED,
                "Your organization doesn't allow this type of passkey. Use another passkey or \
                 security key, or ask your administrator which ones are allowed.",
            ),
            NotAdded::Duplicate => (
                StatusCode::CONFLICT,
                codes::CONFLICT,
                "This passkey is registered already.",
            ),
            // credProps `rk` false: it could not sign in without the name typed.
            NotAdded::NotDiscoverable => (
                StatusCode::BAD_REQUEST,
                PASSKEY_REFUSED,
                "This passkey wasn't saved on your device or security key, so it couldn't sign \
                 you in without your name. Create it again, and choose to save it on this \
                 device, your phone or a security key.",
            ),
        };
        ApiError::new(status, code, message)
    }
}

/// JSON rendering, for API routes.
impl IntoResponse for ApiError {
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
