//! The core's errors: what went wrong in terms a caller can act on. The HTTP edge maps each
//! variant to a status and a stable code; none of them carries internal detail to a client.

use thiserror::Error;

/// Errors raised by a `Store` implementation.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the text names the value (e.g. "user alice@contoso.com").
    #[error("{0} already exists")]
    Conflict(String),
    /// The database failed; the text is for logs only.
    #[error("storage failure: {0}")]
    Backend(String),
}

/// OAuth 2.0 error codes (RFC 6749 §4.1.2.1, §5.2; OpenID Connect Core §3.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    InvalidToken,
    LoginRequired,
    AccessDenied,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidToken => "invalid_token",
            Self::LoginRequired => "login_required",
            Self::AccessDenied => "access_denied",
        }
    }
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

#[derive(Debug, Error)]
pub enum CoreError {
    #[error("{what} '{name}' was not found")]
    NotFound { what: &'static str, name: String },
    #[error("{0} already exists")]
    Conflict(String),
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: std::borrow::Cow<'static, str>,
        reason: String,
    },
    /// The acting user lacks the role the change needs.
    #[error("{0}")]
    Forbidden(String),
    /// Deliberately uninformative: wrong password, unknown account, disabled or locked account all
    /// look the same to the person signing in.
    #[error("your account or password is incorrect")]
    SignInFailed,
    /// The authentication methods policy does not let this user use the method (Entra's words).
    #[error("This sign-in method is not supported by your tenant.")]
    MethodNotSupported,
    #[error("this sign-in page has expired; start again")]
    FlowExpired,
    /// A device's request (device protocol) refused, with its stable reason.
    #[error(transparent)]
    Device(#[from] crate::methods::push::DeviceError),
    #[error("the server is busy; try again in a moment")]
    Busy,
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error("token signing failed: {0}")]
    Signing(String),
    /// A component failed in a way the person cannot fix (logged, answered as a server error).
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => CoreError::Conflict(what),
            other => CoreError::Store(other),
        }
    }
}

impl CoreError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
    pub fn not_found(what: &'static str, name: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            name: name.into(),
        }
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
