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

/// Why a device's request was refused. Each has a stable code in the device protocol
/// (`docs/device-protocol.md`, "Error codes"); the messages are for the person holding the device.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeviceError {
    #[error(
        "This activation code is not valid: it was used or has expired. Start adding the \
         Authenticator app again in security info."
    )]
    ActivationInvalid,
    #[error("The signature does not match this device's key.")]
    BadSignature,
    #[error("This device is not registered. Add the account to the Authenticator app again.")]
    DeviceUnknown,
    #[error(
        "This version of the Authenticator app is no longer supported. Update the app to \
         version {min} or later."
    )]
    AppVersionUnsupported { min: String },
    /// Also what another user's device is told: it learns nothing about the request.
    #[error("There is no such sign-in request.")]
    RequestNotFound,
    #[error("This sign-in request has expired.")]
    RequestExpired,
    #[error("This sign-in request was answered already.")]
    RequestAnswered,
    /// An approval with another number: the attempt is over, and counts as a failure.
    #[error("The number doesn't match the one on the sign-in page, so the sign-in was refused.")]
    WrongNumber,
    /// Direct registration: a wrong, used, expired, revoked or not-yet-valid Temporary Access
    /// Pass, or a name without one (one answer for all).
    #[error(
        "The name or the Temporary Access Pass isn't valid. Check them, or ask your \
         administrator for a new pass."
    )]
    PassInvalid,
    /// The policy's Authenticator mode for the user is Push (or the app is not allowed at all).
    #[error("Your organization doesn't allow phone sign-in for your account.")]
    PhoneSignInNotAllowed,
    #[error(
        "You've turned on phone sign-in on {limit} devices, the most your organization allows. \
         Remove one in security info first."
    )]
    PhoneSignInLimit { limit: u32 },
    /// A passwordless request answered by a device (or key) without phone sign-in.
    #[error(
        "Phone sign-in isn't turned on for this account on this device. Turn it on first \
         (Enable phone sign-in)."
    )]
    PhoneSignInNotEnabled,
    /// A passwordless approval made without the App Lock.
    #[error("Phone sign-in needs your App Lock: unlock the app with your PIN to approve.")]
    PinRequired,
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
    Device(#[from] DeviceError),
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
