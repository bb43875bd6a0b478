//! A local OAuth 2.0 authorization server for integration tests: the authorization code grant
//! (RFC 6749 §4.1) with PKCE S256 required (RFC 7636), confidential client authentication by
//! `client_secret_basic` or `client_secret_post` (RFC 6749 §2.3.1), and refresh tokens
//! (RFC 6749 §6) with optional rotation. Runtime switches make the token endpoint reject every
//! refresh, answer 503, or answer 307 to another URL; counters and recorded requests let tests
//! assert what the product sent. Recorded requests hold client secrets and verifiers in the
//! clear on purpose: this is a test helper.
//!
//! Behaviour worth knowing when writing product tests:
//! - `/authorize` auto-consents. An unknown `client_id` or a `redirect_uri` that is missing or
//!   not byte-for-byte the registered one answers 400 without redirecting (RFC 6749 §4.1.2.1);
//!   other errors (wrong `response_type`, missing `code_challenge`, a method other than `S256`)
//!   redirect to the client with `error=` and the `state`.
//! - A code is consumed by the first exchange attempt that names it, whatever the outcome (a
//!   wrong verifier burns the code, as real servers do). Codes live [`CODE_LIFETIME`].
//! - A missing `code` is `invalid_request`; a missing or wrong `code_verifier` or `redirect_uri`
//!   is `invalid_grant`. An unknown `grant_type` is `unsupported_grant_type`.
//! - Client authentication comes before any grant check (and before [`Mode::InvalidGrant`]);
//!   [`Mode::Unavailable`], [`Mode::ServerError`] and [`Mode::RedirectTo`] answer before
//!   anything is checked.
//!   Presenting a secret both in Basic and in the form is `invalid_request` (one method only).
//! - Without rotation, a refresh response carries no `refresh_token` (the client keeps its
//!   own); with rotation, each refresh returns a new one and the presented one dies. Reusing a
//!   rotated-out token is `invalid_grant` but does not revoke the live one.
//! - A refresh may ask for a subset of the granted scopes (`scope`); anything else is
//!   `invalid_scope`.
//! - Real-provider variations, each a [`ProviderConfig`] switch: post-only or public clients
//!   ([`ClientAuth`]), refresh tokens only after `prompt=consent` (OpenID's `offline_access`
//!   rule), `iss` on every redirect (RFC 9207), narrowed scopes on refresh. `deny=1` in the
//!   authorization request plays a user who refuses (an `access_denied` redirect).

#![allow(dead_code)] // Each test file uses a different part of the provider.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;

/// How long an authorization code stays redeemable.
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);

/// The one registered (confidential) client and how the provider grants.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub client_id: String,
    pub client_secret: String,
    /// The only redirect URI accepted, compared byte for byte.
    pub redirect_uri: String,
    /// `expires_in` of every access token.
    pub access_token_lifetime_secs: u64,
    /// `None` grants exactly the requested scopes; `Some(list)` grants `list` whatever was
    /// requested. The token responses' `scope` is what was granted.
    pub granted_scopes: Option<Vec<String>>,
    /// A new refresh token on every refresh, the presented one becoming invalid.
    pub rotate_refresh_tokens: bool,
    /// How the client must authenticate at the token endpoint.
    pub client_auth: ClientAuth,
    /// Like OpenID providers with `offline_access`: a refresh token only for an authorization
    /// request that carried `prompt=consent`.
    pub refresh_token_needs_prompt_consent: bool,
    /// When set, every redirect to the client carries `iss` (RFC 9207) with this value.
    pub issuer: Option<String>,
    /// When set, refresh answers grant (and state in `scope`) this list instead.
    pub refresh_granted_scopes: Option<Vec<String>>,
}

/// What the token endpoint accepts as client authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `client_secret_basic` or `client_secret_post` (the default).
    #[default]
    BasicOrPost,
    /// Only `client_secret_post`: a Basic header is `invalid_client`.
    PostOnly,
    /// A public client: `client_id` in the form, no secret anywhere (PKCE is the proof).
    Public,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            client_id: "credledger-test-client".to_owned(),
            client_secret: "credledger-test-secret".to_owned(),
            redirect_uri: "http://127.0.0.1:9/oauth/callback".to_owned(),
            access_token_lifetime_secs: 3600,
            granted_scopes: None,
            rotate_refresh_tokens: true,
            client_auth: ClientAuth::BasicOrPost,
            refresh_token_needs_prompt_consent: false,
            issuer: None,
            refresh_granted_scopes: None,
        }
    }
}

/// Runtime behaviour of the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Normal,
    /// Every `grant_type=refresh_token` call (after client authentication) answers 400
    /// `invalid_grant`; code exchanges still work.
    InvalidGrant,
    /// Every token call answers 503.
    Unavailable,
    /// Every token call answers 500 (a provider's internal error).
    ServerError,
    /// Every token call answers 307 with `Location: <url>`.
    RedirectTo(String),
}

/// One request received by `POST /token`, as sent (secrets included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedTokenRequest {
    /// Form fields (the last value if one was repeated); empty if the body was not a form.
    pub form: BTreeMap<String, String>,
    /// The raw `Authorization` header.
    pub authorization: Option<String>,
    /// `(client_id, client_secret)` decoded from a Basic `Authorization` header.
    pub basic_credentials: Option<(String, String)>,
}

#[derive(Debug, Clone)]
struct PendingCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scopes: Vec<String>,
    expires_at: Instant,
    /// Whether the authorization request carried `prompt=consent`.
    consented: bool,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    client_id: String,
    scopes: Vec<String>,
}

#[derive(Debug)]
struct Inner {
    config: ProviderConfig,
    mode: Mode,
    codes: HashMap<String, PendingCode>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    latest_refresh_token: Option<String>,
    issued_access_tokens: Vec<String>,
    authorize_calls: usize,
    token_calls: usize,
    refresh_calls: usize,
    code_exchanges: usize,
    last_token_request: Option<RecordedTokenRequest>,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    // A failed assertion elsewhere must not turn every later call into a poison panic.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running provider on `127.0.0.1:<ephemeral>`; the server stops when this is dropped.
pub struct Provider {
    addr: SocketAddr,
    config: ProviderConfig,
    state: Shared,
    task: JoinHandle<()>,
}

impl Provider {
    /// Binds `127.0.0.1:0` and serves `GET /authorize` and `POST /token`.
    pub async fn start(config: ProviderConfig) -> Provider {
        let state: Shared = Arc::new(Mutex::new(Inner {
            config: config.clone(),
            mode: Mode::Normal,
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            latest_refresh_token: None,
            issued_access_tokens: Vec::new(),
            authorize_calls: 0,
            token_calls: 0,
            refresh_calls: 0,
            code_exchanges: 0,
            last_token_request: None,
        }));
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the OAuth provider");
        let addr = listener.local_addr().expect("provider address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Provider {
            addr,
            config,
            state,
            task,
        }
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// `http://127.0.0.1:<port>`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:<port>/authorize`
    pub fn authorize_endpoint(&self) -> String {
        format!("{}/authorize", self.base_url())
    }

    /// `http://127.0.0.1:<port>/token`
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.base_url())
    }

    /// A correct authorization request for the registered client (for tests that play the
    /// client themselves). `scope` is space-separated.
    pub fn authorize_url(&self, state: &str, code_challenge: &str, scope: &str) -> String {
        let mut url = reqwest::Url::parse(&self.authorize_endpoint()).expect("authorize URL");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    pub fn set_mode(&self, mode: Mode) {
        lock(&self.state).mode = mode;
    }

    pub fn mode(&self) -> Mode {
        lock(&self.state).mode.clone()
    }

    /// Every refresh token issued so far becomes invalid (`invalid_grant` on use).
    pub fn revoke_all_refresh_tokens(&self) {
        lock(&self.state).refresh_tokens.clear();
    }

    /// Makes every pending authorization code expired (instead of waiting [`CODE_LIFETIME`]).
    pub fn expire_pending_codes(&self) {
        let now = Instant::now();
        for code in lock(&self.state).codes.values_mut() {
            code.expires_at = now;
        }
    }

    /// `GET /authorize` requests received (any outcome).
    pub fn authorize_calls(&self) -> usize {
        lock(&self.state).authorize_calls
    }

    /// `POST /token` requests received (any outcome, any mode).
    pub fn token_calls(&self) -> usize {
        lock(&self.state).token_calls
    }

    /// Token requests with `grant_type=refresh_token` (any outcome, any mode).
    pub fn refresh_calls(&self) -> usize {
        lock(&self.state).refresh_calls
    }

    /// Token requests with `grant_type=authorization_code` (any outcome, any mode).
    pub fn code_exchanges(&self) -> usize {
        lock(&self.state).code_exchanges
    }

    /// The last `POST /token` request, secrets included.
    pub fn last_token_request(&self) -> Option<RecordedTokenRequest> {
        lock(&self.state).last_token_request.clone()
    }

    /// The form fields of the last `POST /token` request, secrets included.
    pub fn last_form(&self) -> Option<BTreeMap<String, String>> {
        lock(&self.state)
            .last_token_request
            .as_ref()
            .map(|r| r.form.clone())
    }

    /// Every access token issued, oldest first.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        lock(&self.state).issued_access_tokens.clone()
    }

    /// The most recently issued refresh token, if it is still valid.
    pub fn current_refresh_token(&self) -> Option<String> {
        let inner = lock(&self.state);
        inner
            .latest_refresh_token
            .clone()
            .filter(|t| inner.refresh_tokens.contains_key(t))
    }

    /// Plays the user's browser: GETs `authorize_url` (which must target this provider)
    /// without following the redirect, and returns `(code, state, redirect_location)` from
    /// the 302. `state` is empty if the redirect carries none. Panics on anything but a 302
    /// carrying a code.
    pub async fn follow_authorize(&self, authorize_url: &str) -> (String, String, String) {
        assert!(
            authorize_url.starts_with(&format!("{}/", self.base_url())),
            "authorize URL {authorize_url} does not target this provider ({})",
            self.base_url()
        );
        let (status, location, body) = self.authorize_raw(authorize_url).await;
        assert_eq!(
            status,
            reqwest::StatusCode::FOUND,
            "authorize answered {status}: {body}"
        );
        let location = location.expect("302 without Location");
        let url = reqwest::Url::parse(&location).expect("redirect Location is a URL");
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        if let Some(error) = query.get("error") {
            panic!("authorize redirected with error {error}: {location}");
        }
        let code = query.get("code").cloned().expect("redirect without code");
        let state = query.get("state").cloned().unwrap_or_default();
        (code, state, location)
    }

    /// GETs `authorize_url` without following redirects: `(status, Location, body)`.
    pub async fn authorize_raw(
        &self,
        authorize_url: &str,
    ) -> (reqwest::StatusCode, Option<String>, String) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client");
        let response = client
            .get(authorize_url)
            .send()
            .await
            .expect("GET /authorize");
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        (status, location, body)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `BASE64URL-NOPAD(SHA256(verifier))` (RFC 7636 §4.2, S256).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// A fresh `(code_verifier, code_challenge)` pair.
pub fn pkce_pair() -> (String, String) {
    let verifier = random_token("");
    let challenge = pkce_challenge(&verifier);
    (verifier, challenge)
}

/// `prefix` + 32 random bytes, base64url without padding.
fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters (also the shape of an S256 challenge).
fn valid_pkce_string(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Parameters must not be repeated (RFC 6749 §3.1, §3.2): the name of a repeated one.
fn single_valued(pairs: &[(String, String)]) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for (name, value) in pairs {
        if map.insert(name.clone(), value.clone()).is_some() {
            return Err(name.clone());
        }
    }
    Ok(map)
}

fn scopes_of(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// An error shown to the user at the authorization endpoint (no redirect).
fn page_error(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": "invalid_request", "error_description": description})),
    )
        .into_response()
}

fn found(location: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut url = reqwest::Url::parse(redirect_uri).expect("registered redirect_uri is a URL");
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    found(url.into())
}

async fn authorize(
    State(shared): State<Shared>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let mut inner = lock(&shared);
    inner.authorize_calls += 1;
    let Ok(Query(pairs)) = query else {
        return page_error("malformed query string");
    };
    let params = match single_valued(&pairs) {
        Ok(params) => params,
        Err(name) => return page_error(&format!("parameter {name} repeated")),
    };
    let config = inner.config.clone();
    let get = |name: &str| params.get(name).map(String::as_str);
    if get("client_id") != Some(config.client_id.as_str()) {
        return page_error("unknown client_id");
    }
    if get("redirect_uri") != Some(config.redirect_uri.as_str()) {
        return page_error("redirect_uri missing or not registered for this client");
    }
    let redirect_uri = config.redirect_uri.as_str();
    let state = get("state");
    let iss = config.issuer.as_deref();
    let error = |error: &str, description: &str| {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(state) = state {
            params.push(("state", state));
        }
        if let Some(iss) = iss {
            params.push(("iss", iss));
        }
        redirect_with(redirect_uri, &params)
    };
    if get("deny") == Some("1") {
        // A test's stand-in for the user pressing "Deny" on the consent page.
        return error("access_denied", "the user refused");
    }
    if get("response_type") != Some("code") {
        return error(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    let Some(challenge) = get("code_challenge") else {
        return error("invalid_request", "code challenge required");
    };
    if get("code_challenge_method") != Some("S256") {
        return error("invalid_request", "transform algorithm not supported");
    }
    if !valid_pkce_string(challenge) {
        return error("invalid_request", "malformed code_challenge");
    }
    let requested = scopes_of(get("scope").unwrap_or(""));
    let scopes = config.granted_scopes.clone().unwrap_or(requested);
    let code = random_token("code-");
    inner.codes.insert(
        code.clone(),
        PendingCode {
            client_id: config.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            challenge: challenge.to_owned(),
            scopes,
            expires_at: Instant::now() + CODE_LIFETIME,
            consented: get("prompt").is_some_and(|p| p.split(' ').any(|v| v == "consent")),
        },
    );
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = state {
        params.push(("state", state));
    }
    if let Some(iss) = iss {
        params.push(("iss", iss));
    }
    redirect_with(redirect_uri, &params)
}

fn token_json(status: StatusCode, body: Value) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response()
}

fn oauth_error(error: &str, description: &str) -> Response {
    token_json(
        StatusCode::BAD_REQUEST,
        json!({"error": error, "error_description": description}),
    )
}

fn invalid_grant(description: &str) -> Response {
    oauth_error("invalid_grant", description)
}

fn invalid_client(description: &str) -> Response {
    let mut response = token_json(
        StatusCode::UNAUTHORIZED,
        json!({"error": "invalid_client", "error_description": description}),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"oauth-test-provider\""),
    );
    response
}

async fn token(
    State(shared): State<Shared>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let pairs = form.ok().map(|Form(pairs)| pairs);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let basic_credentials = authorization.as_deref().and_then(parse_basic);

    let mut inner = lock(&shared);
    inner.token_calls += 1;
    let recorded: BTreeMap<String, String> = pairs.iter().flatten().cloned().collect();
    match recorded.get("grant_type").map(String::as_str) {
        Some("refresh_token") => inner.refresh_calls += 1,
        Some("authorization_code") => inner.code_exchanges += 1,
        _ => {}
    }
    inner.last_token_request = Some(RecordedTokenRequest {
        form: recorded,
        authorization: authorization.clone(),
        basic_credentials: basic_credentials.clone(),
    });

    match inner.mode.clone() {
        Mode::Unavailable => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "503 Service Unavailable",
            )
                .into_response()
        }
        Mode::ServerError => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "500 Internal Server Error",
            )
                .into_response()
        }
        Mode::RedirectTo(url) => {
            return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, url)]).into_response()
        }
        Mode::Normal | Mode::InvalidGrant => {}
    }

    let Some(pairs) = pairs else {
        return oauth_error(
            "invalid_request",
            "body must be application/x-www-form-urlencoded",
        );
    };
    let params = match single_valued(&pairs) {
        Ok(params) => params,
        Err(name) => return oauth_error("invalid_request", &format!("parameter {name} repeated")),
    };

    let client_auth = inner.config.client_auth;
    if client_auth == ClientAuth::Public {
        // A public client proves nothing but its id; PKCE binds the code to it.
        if authorization.is_some() || params.contains_key("client_secret") {
            return invalid_client("a public client has no secret");
        }
        if params.get("client_id") != Some(&inner.config.client_id) {
            return invalid_client("client_id missing or unknown");
        }
        let client_id = inner.config.client_id.clone();
        return match params.get("grant_type").map(String::as_str) {
            None => oauth_error("invalid_request", "grant_type missing"),
            Some("authorization_code") => exchange_code(&mut inner, &client_id, &params),
            Some("refresh_token") => refresh(&mut inner, &client_id, &params),
            Some(_) => oauth_error("unsupported_grant_type", "grant_type not supported"),
        };
    }
    if client_auth == ClientAuth::PostOnly && authorization.is_some() {
        return invalid_client("only client_secret_post is accepted");
    }
    // Client authentication (RFC 6749 §2.3.1): exactly one method.
    let (client_id, client_secret) = match (authorization.as_deref(), basic_credentials) {
        (Some(_), _) if params.contains_key("client_secret") => {
            return oauth_error(
                "invalid_request",
                "more than one client authentication method",
            )
        }
        (Some(_), None) => return invalid_client("malformed Authorization header"),
        (Some(_), Some((id, secret))) => {
            if params
                .get("client_id")
                .is_some_and(|form_id| *form_id != id)
            {
                return invalid_client("client_id in the form differs from the authenticated one");
            }
            (id, secret)
        }
        (None, _) => match (params.get("client_id"), params.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => return invalid_client("client authentication required"),
        },
    };
    if client_id != inner.config.client_id || client_secret != inner.config.client_secret {
        return invalid_client("client authentication failed");
    }

    match params.get("grant_type").map(String::as_str) {
        None => oauth_error("invalid_request", "grant_type missing"),
        Some("authorization_code") => exchange_code(&mut inner, &client_id, &params),
        Some("refresh_token") => refresh(&mut inner, &client_id, &params),
        Some(_) => oauth_error("unsupported_grant_type", "grant_type not supported"),
    }
}

fn issue_access_token(inner: &mut Inner) -> String {
    let access_token = random_token("at-");
    inner.issued_access_tokens.push(access_token.clone());
    access_token
}

fn issue_refresh_token(inner: &mut Inner, client_id: &str, scopes: &[String]) -> String {
    let refresh_token = random_token("rt-");
    inner.refresh_tokens.insert(
        refresh_token.clone(),
        RefreshGrant {
            client_id: client_id.to_owned(),
            scopes: scopes.to_vec(),
        },
    );
    inner.latest_refresh_token = Some(refresh_token.clone());
    refresh_token
}

fn exchange_code(inner: &mut Inner, client_id: &str, params: &HashMap<String, String>) -> Response {
    let Some(code) = params.get("code") else {
        return oauth_error("invalid_request", "code missing");
    };
    // Single use: whatever happens next, this code is gone.
    let Some(pending) = inner.codes.remove(code) else {
        return invalid_grant("authorization code unknown or already used");
    };
    if Instant::now() >= pending.expires_at {
        return invalid_grant("authorization code expired");
    }
    if pending.client_id != client_id {
        return invalid_grant("authorization code issued to another client");
    }
    if params.get("redirect_uri") != Some(&pending.redirect_uri) {
        return invalid_grant("redirect_uri does not match the authorization request");
    }
    let Some(verifier) = params.get("code_verifier") else {
        return invalid_grant("code_verifier missing");
    };
    if !valid_pkce_string(verifier) {
        return invalid_grant("malformed code_verifier");
    }
    if pkce_challenge(verifier) != pending.challenge {
        return invalid_grant("PKCE verification failed");
    }
    let access_token = issue_access_token(inner);
    let mut body = Map::new();
    body.insert("access_token".into(), json!(access_token));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert(
        "expires_in".into(),
        json!(inner.config.access_token_lifetime_secs),
    );
    if pending.consented || !inner.config.refresh_token_needs_prompt_consent {
        let refresh_token = issue_refresh_token(inner, client_id, &pending.scopes);
        body.insert("refresh_token".into(), json!(refresh_token));
    }
    body.insert("scope".into(), json!(pending.scopes.join(" ")));
    token_json(StatusCode::OK, Value::Object(body))
}

fn refresh(inner: &mut Inner, client_id: &str, params: &HashMap<String, String>) -> Response {
    if inner.mode == Mode::InvalidGrant {
        return invalid_grant("refresh token revoked");
    }
    let Some(presented) = params.get("refresh_token") else {
        return oauth_error("invalid_request", "refresh_token missing");
    };
    let Some(grant) = inner.refresh_tokens.get(presented).cloned() else {
        return invalid_grant("refresh token unknown, rotated out or revoked");
    };
    if grant.client_id != client_id {
        return invalid_grant("refresh token issued to another client");
    }
    let scopes = match params.get("scope") {
        None => inner
            .config
            .refresh_granted_scopes
            .clone()
            .unwrap_or_else(|| grant.scopes.clone()),
        Some(requested) => {
            let requested = scopes_of(requested);
            if !requested.iter().all(|s| grant.scopes.contains(s)) {
                return oauth_error("invalid_scope", "scope exceeds the original grant");
            }
            requested
        }
    };
    let access_token = issue_access_token(inner);
    let mut body = Map::new();
    body.insert("access_token".into(), json!(access_token));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert(
        "expires_in".into(),
        json!(inner.config.access_token_lifetime_secs),
    );
    if inner.config.rotate_refresh_tokens {
        inner.refresh_tokens.remove(presented);
        let rotated = issue_refresh_token(inner, client_id, &grant.scopes);
        body.insert("refresh_token".into(), json!(rotated));
    }
    body.insert("scope".into(), json!(scopes.join(" ")));
    token_json(StatusCode::OK, Value::Object(body))
}

/// A loopback listener that answers every request (any method, any path) with a plausible
/// token response and counts it: a client that follows a redirect here is caught by `hits()`.
pub struct Sink {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Sink {
    pub async fn start() -> Sink {
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let app = Router::new()
            .fallback(sink_hit)
            .with_state(requests.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sink");
        let addr = listener.local_addr().expect("sink address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Sink {
            addr,
            requests,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:<port>/<path>` (`path` without a leading slash).
    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url())
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// `"METHOD /path?query"` of every request received, oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn sink_hit(
    State(requests): State<Arc<Mutex<Vec<String>>>>,
    method: Method,
    uri: Uri,
) -> Response {
    requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(format!("{method} {uri}"));
    token_json(
        StatusCode::OK,
        json!({
            "access_token": "sink-access-token",
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": "sink-refresh-token",
        }),
    )
}
