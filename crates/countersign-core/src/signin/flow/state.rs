//! A flow's state, stored as one serialised value: its [`Step`], the name typed, the user once
//! known, the [`Proof`]s collected, and what the methods are ([`Method`]: factor, order, `amr`).

use crate::clock::Timestamp;
use crate::model::Session;
use serde::{Deserialize, Serialize};

/// A way to prove who one is, as the person chooses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Password,
    /// A sign-in request approved on the Authenticator app, with the number shown matched.
    Push,
    /// A verification code from an OATH token: an authenticator app or a hardware token.
    Code,
    /// A Temporary Access Pass an administrator issued.
    Tap,
    /// Phone sign-in: a request approved with the phone sign-in key of the Authenticator app,
    /// the number matched and the App Lock used — no password.
    Phone,
    /// A passkey (WebAuthn, user verification required): "Face, fingerprint, PIN, or security
    /// key".
    Passkey,
}

/// NIST SP 800-63B's authentication factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Knowledge,
    Possession,
}

impl Method {
    /// Every method, in the order a default is picked when the browser remembers none: a push
    /// approval before a code, as it is both easier and proves more (the number matched).
    /// (A live Temporary Access Pass goes first whatever the order: see [`decide`].) A passkey
    /// comes after the password as a first method — it may live on a security key not plugged
    /// in — and first as a second one.
    pub const ALL: [Method; 6] = [
        Method::Password,
        Method::Passkey,
        Method::Phone,
        Method::Push,
        Method::Code,
        Method::Tap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Push => "push",
            Self::Code => "code",
            Self::Tap => "tap",
            Self::Phone => "phone",
            Self::Passkey => "passkey",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
    /// Whether it may start a sign-in. Codes never do (as in Entra): a code alone is a guessable
    /// six digits, and it would make a stolen phone an account.
    pub fn first_factor(self) -> bool {
        matches!(
            self,
            Self::Password | Self::Tap | Self::Phone | Self::Passkey
        )
    }
    /// Whether it may complete a sign-in started by another method.
    pub fn second_factor(self) -> bool {
        matches!(self, Self::Push | Self::Code | Self::Tap | Self::Passkey)
    }
    pub fn factor(self) -> Factor {
        match self {
            Self::Password | Self::Tap => Factor::Knowledge,
            Self::Push | Self::Code | Self::Phone | Self::Passkey => Factor::Possession,
        }
    }
    /// Whether its proof alone amounts to multifactor authentication. A Temporary Access Pass
    /// does (as in Entra): an administrator vouched for the person when issuing it, and it exists
    /// so that someone with no method yet can register one. So does phone sign-in: the device key
    /// (possession) unlocked with the App Lock (knowledge), which its answer must have used. So
    /// does a passkey: user verification (a PIN or a biometric) is required of every use.
    pub fn alone_is_mfa(self) -> bool {
        matches!(self, Self::Tap | Self::Phone | Self::Passkey)
    }
    /// Its authentication method reference (RFC 8176 §2): a push approval is a proof of
    /// possession of the device's software-secured key (`swk`). RFC 8176 has no value for a
    /// Temporary Access Pass: `tap`, which no other method's `amr` is mistaken for. A passkey is
    /// `swk` here; one in a hardware authenticator is `hwk` ([`Proof::amr`]).
    pub fn amr(self) -> &'static str {
        match self {
            Self::Password => "pwd",
            Self::Push | Self::Phone | Self::Passkey => "swk",
            Self::Code => "otp",
            Self::Tap => "tap",
        }
    }
    /// Its line in "Other ways to sign in" (Entra's words).
    pub fn choice_label(self) -> &'static str {
        match self {
            Self::Password => "Use your password",
            Self::Push | Self::Phone => "Approve a request on my Authenticator app",
            Self::Code => "Use a verification code",
            Self::Tap => "Temporary Access Pass",
            Self::Passkey => "Face, fingerprint, PIN, or security key",
        }
    }
}

/// A method that succeeded in this flow, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    pub method: Method,
    pub at: Timestamp,
    /// The device confirmed its App Lock (PIN) was used for this proof (`amr` gains `pin`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pin: bool,
    /// A passkey held in hardware (a security key, a platform authenticator that does not sync).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hardware: bool,
}

impl Proof {
    pub fn new(method: Method, at: Timestamp) -> Self {
        Self {
            method,
            at,
            pin: false,
            hardware: false,
        }
    }

    /// Its `amr` value: the method's, but `hwk` for a passkey held in hardware.
    pub fn amr(&self) -> &'static str {
        if self.method == Method::Passkey && self.hardware {
            "hwk"
        } else {
            self.method.amr()
        }
    }
}

/// Where a flow is. Method-specific state lives in the method's variant.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// "Sign in": the name.
    #[default]
    Identify,
    /// A method's own page (enter password, enter code).
    Method { method: Method },
    /// "Other ways to sign in": the methods on offer.
    Choose,
    /// The account has no method it may sign in with.
    NoMethod,
    /// A second factor is required and the account has none it may use: "More information
    /// required", then registration.
    MoreInformationRequired,
    /// Registering an authenticator app during sign-in: the pending token.
    Register { token_id: String },
    /// "Approve sign-in request": the request sent to the user's devices, waiting; `passwordless`
    /// for phone sign-in.
    Push {
        request_id: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        passwordless: bool,
    },
    /// Not a sign-in's step: a WebAuthn ceremony waiting for the browser's answer, kept in its
    /// own one-time row (`crate::methods::passkey`): what it is for, the verifier's state, and the digest
    /// of what it is bound to (the browser's flow id, or the registering user's id).
    Ceremony {
        purpose: crate::methods::passkey::Purpose,
        state: String,
        bound_to: String,
        /// The browser's options, kept for a cross-device link (the device asks for them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        options: Option<String>,
    },
}

/// The engine's whole state of one flow, stored as one value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FlowState {
    pub step: Step,
    /// The name typed at the first step (normalised).
    pub username: Option<String>,
    /// The account behind the name once known: an enabled user, found at the first step or
    /// proved by the first method. `None` for unknown and disabled names.
    pub user_id: Option<String>,
    pub proofs: Vec<Proof>,
    /// The application asked for a second factor (its `--require-mfa`, or `acr_values`).
    pub mfa_required: bool,
    /// Where the person is signing in from, as last seen at the HTTP edge (set when a request
    /// is sent to their devices, which shows it).
    pub context: Option<crate::signin::context::SignInContext>,
}

/// Whether the proofs amount to multifactor authentication: two different factors, or one proof
/// that is multifactor alone.
pub fn is_mfa(proofs: &[Proof]) -> bool {
    proofs.iter().any(|p| {
        p.method.alone_is_mfa()
            || proofs
                .iter()
                .any(|q| q.method.factor() != p.method.factor())
    })
}

/// The `amr` of a sign-in made of these proofs (RFC 8176): each method's value, and `mfa` when
/// they amount to multifactor authentication.
pub fn amr(proofs: &[Proof]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in proofs {
        let v = p.amr();
        if !out.iter().any(|o| o == v) {
            out.push(v.to_string());
        }
    }
    if proofs.iter().any(|p| p.pin) {
        out.push("pin".into());
    } else if proofs.iter().any(|p| p.method == Method::Passkey) {
        // The authenticator verified the user its own way (a biometric, its PIN): RFC 8176's
        // "user presence test" is what can be said of it.
        out.push("user".into());
    }
    if is_mfa(proofs) {
        out.push("mfa".into());
    }
    out
}

/// The proofs an existing session stands for (its `amr` read back), so that a step-up asks only
/// for what is missing.
pub fn proofs_of(session: &Session) -> Vec<Proof> {
    let has = |v: &str| session.amr.iter().any(|a| a == v);
    // `hwk` is a passkey in hardware, `swk` with `user` one in software; otherwise `swk` is a
    // push approval after another factor, and phone sign-in when it was alone.
    let software_passkey = has("swk") && has("user");
    let passkey = has("hwk") || software_passkey;
    let device = has("swk") && !software_passkey;
    let phone = device && !has("pwd") && !has("otp") && !has("tap");
    Method::ALL
        .into_iter()
        .filter(|m| match m {
            Method::Passkey => passkey,
            Method::Push => device && !phone,
            Method::Phone => phone,
            other => has(other.amr()),
        })
        .map(|method| Proof {
            pin: matches!(method, Method::Push | Method::Phone) && has("pin"),
            hardware: method == Method::Passkey && has("hwk"),
            ..Proof::new(method, session.auth_time)
        })
        .collect()
}

/// A flow for `request`, at its first step (or past it, with the name an application hinted).
pub fn new_state(mfa_required: bool) -> FlowState {
    FlowState {
        mfa_required,
        ..FlowState::default()
    }
}
