//! The command path: state -> domain decision -> seal secrets -> append -> wait for the model.

use std::collections::BTreeMap;

use crate::crypto::{seal, CryptoError, DataKey, SealContext, SealedSecret, SecretBytes};
use crate::domain::access::{decide_access, Action};
use crate::domain::authentication::{
    decide, AuthenticationCommand, AuthenticationError, AuthenticationEvent, AuthenticationState,
    DecisionContext, Lifecycle, RestoreSnapshot, StoredField, VerificationOutcome, Warning,
};
use crate::domain::directory::{self, DirectoryCommand, DirectoryEvent};
use crate::domain::ids::{AuthenticationId, FieldName};
use crate::domain::naming::NameError;
use crate::domain::secret::SecretText;
use crate::domain::services::ServiceRegistry;
use crate::ledger::{
    AppendRequest, EventId, EventStore, ExpectedVersion, NewEvent, StoreError, StreamRange,
    StreamVersion,
};
use crate::projections::payloads::{self, DomainEvent, StoredAuthenticationEvent};
use crate::projections::LedgerModel;
use crate::time::Timestamp;

use super::invariants::with_name_claims;
use super::verification::{
    self, ChangeOptions, Checked, Plan, Probe, VerificationMode, VerificationReport,
};
use super::{App, AppError, Caller, ConflictReason, RestoreField, RestoreRefusal};

/// The outcome stored by an earlier attempt with the same idempotency key.
fn replayed_outcome(earlier: &crate::ledger::AppendOutcome) -> Result<CommandOutcome, AppError> {
    super::idempotent::replayed_command(earlier)
}

/// What an accepted command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    /// The authentication the command ran on (for a replay: the one the first attempt made).
    pub id: AuthenticationId,
    /// The authentication's version after the command.
    pub version: u64,
    /// Log position of the last event written.
    pub position: u64,
    /// Warnings about the accepted command.
    pub warnings: Vec<Warning>,
    /// The command had already run under the caller's idempotency key: this is its outcome,
    /// nothing ran again.
    pub replayed: bool,
    /// What checking the new material at the service found (creates and re-authentications
    /// by a person; `None` for every other command).
    pub verification: Option<VerificationReport>,
}

/// Which earlier state to restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreTarget {
    /// As it was at this version.
    Version(u64),
    /// As it was at this time.
    Time(Timestamp),
}

/// Runs `f` with a decision context over the read model as it is now.
pub(super) fn with_context<T>(
    model: &LedgerModel,
    registry: &ServiceRegistry,
    caller: &Caller,
    f: impl FnOnce(&DecisionContext<'_>) -> T,
) -> T {
    let name_taken = |workspace, key: &str| model.name_taken(workspace, key);
    let ctx = DecisionContext {
        actor: caller.user,
        directory: &model.directory,
        services: registry,
        name_taken: &name_taken,
        now: Timestamp(Timestamp::now().0),
    };
    f(&ctx)
}

/// What a directory command did: its events, and the directory's version it produced (the
/// `ETag` of its answer: read from the append, never after it, so it cannot name a later
/// change).
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryOutcome {
    /// The events written (or, on a replay, written by the first attempt).
    pub events: Vec<DirectoryEvent>,
    /// The directory stream's version after them.
    pub version: u64,
}

fn expected(version: u64) -> ExpectedVersion {
    if version == 0 {
        ExpectedVersion::NoStream
    } else {
        ExpectedVersion::Exact(StreamVersion(version))
    }
}

/// Refuses a command on an authentication the caller may not see (as if it did not exist), or
/// whose version is not the caller's `If-Match`.
fn check_visible(
    model: &LedgerModel,
    caller: &Caller,
    state: &AuthenticationState<SealedSecret>,
    if_version: Option<u64>,
) -> Result<(), AppError> {
    // Someone who may not see an authentication must not learn that it exists. The system
    // (token refresh) sees everything; the domain still only lets it run its own commands.
    if let Some(auth) = &state.current {
        if caller.via != crate::ledger::SignedInWith::System
            && !model.allows(caller.user, auth.workspace, Action::View)
        {
            return Err(AppError::NotFound);
        }
    }
    // A missing authentication answers like a hidden one (404 from the decision), never "at
    // version 0": the status must not tell the two apart.
    if let (Some(wanted), Some(_)) = (if_version, &state.current) {
        if wanted != state.version {
            return Err(AppError::VersionMismatch {
                expected: wanted,
                actual: state.version,
            });
        }
    }
    Ok(())
}

/// Changed between the verification and the append: the check may not hold for what lands.
fn changed_while_verifying() -> AppError {
    AppError::Conflict(ConflictReason::ChangedWhileVerifying)
}

fn conflict(err: StoreError) -> AppError {
    match err {
        StoreError::WrongExpectedVersion { actual, .. } => {
            AppError::Conflict(ConflictReason::ConcurrentChange { actual: actual.0 })
        }
        other => super::idempotent::reused(other),
    }
}

impl App {
    /// Runs an authentication command for a caller. `if_version` (from `If-Match`) must equal
    /// the current version when given.
    pub async fn execute(
        &self,
        caller: &Caller,
        id: AuthenticationId,
        command: AuthenticationCommand,
        if_version: Option<u64>,
    ) -> Result<CommandOutcome, AppError> {
        self.execute_all(caller, id, vec![command], if_version)
            .await
    }

    /// Runs several commands as one change (e.g. rename and move): each is decided on the
    /// state the previous ones leave, and all their events are appended together, or none.
    /// A refusal for lack of rights is recorded in audit.
    pub async fn execute_all(
        &self,
        caller: &Caller,
        id: AuthenticationId,
        commands: Vec<AuthenticationCommand>,
        if_version: Option<u64>,
    ) -> Result<CommandOutcome, AppError> {
        self.execute_with_options(caller, id, commands, if_version, ChangeOptions::default())
            .await
    }

    /// Like [`App::execute_all`], with the caller's options: a create or re-authentication
    /// whose verification fails is saved only with `save_unverified`.
    pub async fn execute_with_options(
        &self,
        caller: &Caller,
        id: AuthenticationId,
        commands: Vec<AuthenticationCommand>,
        if_version: Option<u64>,
        options: ChangeOptions,
    ) -> Result<CommandOutcome, AppError> {
        self.execute_checked(caller, id, commands, if_version, options, None)
            .await
    }

    /// Runs commands, with a verification already made by the caller (the service defined
    /// together with its authentication is checked before anything is written).
    pub(super) async fn execute_checked(
        &self,
        caller: &Caller,
        id: AuthenticationId,
        commands: Vec<AuthenticationCommand>,
        if_version: Option<u64>,
        options: ChangeOptions,
        checked: Option<Checked>,
    ) -> Result<CommandOutcome, AppError> {
        let action = commands
            .iter()
            .map(super::audit::action_name)
            .collect::<Vec<_>>()
            .join("+");
        let result = self
            .execute_all_unaudited(caller, id, commands, if_version, options, checked)
            .await;
        self.audit_command_result(caller, id, &action, result).await
    }

    /// Decides the commands on the stored state without sealing or writing anything, and
    /// verifies the material they leave at the service. Holds no lock during the call: the
    /// append checks that neither the authentication nor its service changed meanwhile.
    async fn probe_and_verify(
        &self,
        caller: &Caller,
        id: AuthenticationId,
        commands: &[AuthenticationCommand],
        if_version: Option<u64>,
        options: ChangeOptions,
    ) -> Result<Checked, AppError> {
        let (version, probe, spec) = {
            let _service_gate = self.service_gate.read().await;
            let model = self.model().model().read().await;
            let state = model
                .authentication(id)
                .map(|r| r.state.clone())
                .unwrap_or_default();
            check_visible(&model, caller, &state, if_version)?;
            let registry = model.registry(self.catalog());
            let mut probe = state.map_secrets(|sealed| Probe::Stored(sealed.clone()));
            for command in commands.iter().cloned() {
                let decision = with_context(&model, &registry, caller, |ctx| {
                    decide(&probe, command, ctx)
                })?;
                for event in decision.events {
                    let event = event
                        .map_secrets(|_, text| Ok::<_, std::convert::Infallible>(Probe::New(text)));
                    match event {
                        Ok(event) => probe.apply(&event),
                        Err(never) => match never {},
                    }
                }
            }
            let spec = probe
                .current
                .as_ref()
                .and_then(|a| registry.resolve(&a.service))
                .cloned();
            (state.version, probe, spec)
        };
        // The decision found the service, so only a concurrent retirement gets here.
        let spec = spec.ok_or_else(changed_while_verifying)?;
        // A change that could not be sealed (a ledger recovered to before a purge whose key is
        // gone) is refused as it would be without verification, before anything is sent.
        if matches!(
            self.keys.status(id.as_uuid())?,
            crate::crypto::DataKeyStatus::Destroyed
        ) {
            return Err(CryptoError::DataKeyDestroyed {
                owner: id.as_uuid(),
            }
            .into());
        }
        self.verify_probe(id, version, &probe, spec, options).await
    }

    /// What an earlier append recorded of its verification (the answer of a replay).
    async fn replayed_verification(
        &self,
        earlier: &crate::ledger::AppendOutcome,
        verifies: bool,
    ) -> Result<Option<VerificationReport>, AppError> {
        if !verifies {
            return Ok(None);
        }
        for event in self.events_of(earlier).await? {
            if let DomainEvent::Authentication(
                _,
                AuthenticationEvent::VerificationRecorded {
                    outcome,
                    saved_unverified,
                },
            ) = event
            {
                return Ok(Some(VerificationReport {
                    outcome,
                    saved_unverified,
                }));
            }
        }
        // Only a service without an endpoint leaves no record.
        Ok(Some(VerificationReport {
            outcome: VerificationOutcome::NotVerifiable {
                reason: verification::NO_ENDPOINT.to_owned(),
            },
            saved_unverified: false,
        }))
    }

    async fn execute_all_unaudited(
        &self,
        caller: &Caller,
        id: AuthenticationId,
        commands: Vec<AuthenticationCommand>,
        if_version: Option<u64>,
        options: ChangeOptions,
        checked: Option<Checked>,
    ) -> Result<CommandOutcome, AppError> {
        let purge = commands
            .iter()
            .any(|c| matches!(c, AuthenticationCommand::Purge));
        let verifies = verification::verifies(caller, &commands);
        if let Some(earlier) = self.earlier_outcome(caller).await? {
            let mut outcome = replayed_outcome(&earlier)?;
            if purge {
                // The first attempt may have failed between its append and the key's end.
                self.finish_purge(outcome.id)?;
            }
            // A replay calls no service: it answers what the first attempt recorded.
            outcome.verification = self.replayed_verification(&earlier, verifies).await?;
            return Ok(outcome);
        }
        // The service is called before anything is decided for real, and without holding the
        // read model or the service gate (a slow service must not stall other writes).
        let checked = match checked {
            Some(checked) => Some(checked),
            None if verifies && self.verification.mode == VerificationMode::Required => Some(
                self.probe_and_verify(caller, id, &commands, if_version, options)
                    .await?,
            ),
            None => None,
        };
        // Every command is decided on what its service is now (creates and moves on where
        // it may be used, the others on its fields): hold the gate until the append is done
        // (see `App::service_gate`). Shared, so commands never wait for one another.
        let _service_gate = self.service_gate.read().await;
        let (state, working, sealed_events, warnings, report) = {
            let model = self.model().model().read().await;
            let state = model
                .authentication(id)
                .map(|r| r.state.clone())
                .unwrap_or_default();
            check_visible(&model, caller, &state, if_version)?;
            let registry = model.registry(self.catalog());
            // Each command is decided on the state the previous ones leave; its events are
            // sealed right away (each under its own event id) so the next one sees them.
            let mut working = state.clone();
            let mut data_key: Option<DataKey> = None;
            let mut sealed_events = Vec::new();
            let mut warnings = Vec::new();
            for command in commands {
                let decision = with_context(&model, &registry, caller, |ctx| {
                    decide(&working, command, ctx)
                })?;
                for event in decision.events {
                    let key = match data_key.take() {
                        Some(key) => key,
                        None => self.keys.get_or_create_for_append(id.as_uuid())?,
                    };
                    let event_id = EventId::new();
                    let sealed = self.seal_event(id, event_id, &key, event)?;
                    data_key = Some(key);
                    working.apply(&sealed);
                    sealed_events.push((event_id, sealed));
                }
                warnings.extend(decision.warnings);
            }
            let report = if verifies {
                let spec = working
                    .current
                    .as_ref()
                    .and_then(|a| registry.resolve(&a.service));
                match &checked {
                    // What was verified must be what lands: same version, same service.
                    Some(checked) => {
                        if checked.version != state.version || spec != Some(&checked.spec) {
                            return Err(changed_while_verifying());
                        }
                        Some((checked.report.clone(), checked.record))
                    }
                    None => {
                        let not_checked = |outcome| VerificationReport {
                            outcome,
                            saved_unverified: false,
                        };
                        match spec.map(|spec| verification::plan(spec, self.verification.mode)) {
                            Some(Plan::Record(outcome)) => Some((not_checked(outcome), true)),
                            // Only reachable if the service gained an endpoint meanwhile.
                            Some(Plan::Call(..)) => return Err(changed_while_verifying()),
                            Some(Plan::Nothing) | None => Some((
                                not_checked(VerificationOutcome::NotVerifiable {
                                    reason: verification::NO_ENDPOINT.to_owned(),
                                }),
                                false,
                            )),
                        }
                    }
                }
            } else {
                None
            };
            if let Some((report, true)) = &report {
                // Recorded in the same append as the change it checked.
                let event = AuthenticationEvent::VerificationRecorded {
                    outcome: report.outcome.clone(),
                    saved_unverified: report.saved_unverified,
                };
                let key = match data_key.take() {
                    Some(key) => key,
                    None => self.keys.get_or_create_for_append(id.as_uuid())?,
                };
                let event_id = EventId::new();
                let sealed = self.seal_event(id, event_id, &key, event)?;
                working.apply(&sealed);
                sealed_events.push((event_id, sealed));
            }
            let report = report.map(|(report, _)| report);
            (state, working, sealed_events, warnings, report)
        };
        let meta = caller.meta();
        let mut events = Vec::with_capacity(sealed_events.len());
        for (event_id, sealed) in sealed_events {
            events.push(NewEvent {
                event_id,
                event_type: sealed.event_type().to_owned(),
                schema_version: sealed.schema_version(),
                payload: payloads::encode_payload(&sealed)?,
                meta: meta.clone(),
            });
        }
        let version = state.version + events.len() as u64;
        let answer = super::idempotent::command_answer(id, version, &warnings)?;
        let request = with_name_claims(
            AppendRequest::new(
                payloads::authentication_stream(id),
                expected(state.version),
                events,
            ),
            &state,
            &working,
        )
        .idempotent(caller.claim(answer));
        let outcome = match self.store().append(request).await {
            Err(StoreError::UniqueKeyTaken { .. }) => {
                let name = working.current.as_ref().map(|a| a.name.clone());
                return Err(AuthenticationError::Name(NameError::Duplicate {
                    name: name.unwrap_or_default(),
                })
                .into());
            }
            other => other.map_err(conflict)?,
        };
        self.model().wait_for(outcome.last_position.0).await?;
        if outcome.replayed_answer.is_some() {
            // Another attempt with the same key landed first.
            let mut replayed = replayed_outcome(&outcome)?;
            if purge {
                self.finish_purge(replayed.id)?;
            }
            replayed.verification = self.replayed_verification(&outcome, verifies).await?;
            return Ok(replayed);
        }
        if purge {
            // Crypto-shredding: without the data key its sealed values never open again.
            self.keys.destroy(id.as_uuid())?;
        }
        Ok(CommandOutcome {
            id,
            version: outcome.stream_version.0,
            position: outcome.last_position.0,
            warnings,
            replayed: false,
            verification: report,
        })
    }

    /// Restores an authentication to an earlier version or time; secrets come back from their
    /// sealed values, they are not re-entered.
    pub async fn restore(
        &self,
        caller: &Caller,
        id: AuthenticationId,
        target: RestoreTarget,
        if_version: Option<u64>,
    ) -> Result<CommandOutcome, AppError> {
        // Decide who may restore before any old secret is opened.
        let allowed = self.check_restore(caller, id).await;
        self.audit_command_result(caller, id, "restore", allowed)
            .await?;
        if let Some(earlier) = self.earlier_outcome(caller).await? {
            return replayed_outcome(&earlier);
        }
        let field = match target {
            RestoreTarget::Version(_) => RestoreField::Version,
            RestoreTarget::Time(_) => RestoreField::AsOf,
        };
        let (earlier, _) = match self.state_as_of(id, target).await {
            Err(AppError::NotFound) => {
                return Err(AppError::RestoreTarget(RestoreRefusal::DidNotExist {
                    field,
                }));
            }
            other => other?,
        };
        let auth = earlier
            .current
            .as_ref()
            .filter(|a| a.lifecycle == Lifecycle::Active)
            .ok_or(AppError::RestoreTarget(RestoreRefusal::NotActive { field }))?;
        let gone = || AppError::RestoreTarget(RestoreRefusal::SecretsPurged);
        let data_key = match self.keys.get(id.as_uuid()) {
            Ok(Some(key)) => key,
            Ok(None) | Err(CryptoError::DataKeyDestroyed { .. }) => return Err(gone()),
            Err(other) => return Err(other.into()),
        };
        let mut fields = BTreeMap::new();
        for (name, field) in &auth.fields {
            let text = match field {
                StoredField::Plain { value, .. } => SecretText::new(value.clone()),
                StoredField::Secret {
                    value,
                    changed_at_version,
                } => {
                    self.unseal(id, name, *changed_at_version, &data_key, value)
                        .await?
                }
            };
            fields.insert(name.clone(), text);
        }
        let snapshot = RestoreSnapshot {
            name: auth.name.clone(),
            fields,
            scopes: auth.scopes.clone(),
            extra_permissions: auth.extra_permissions.clone(),
        };
        let command = AuthenticationCommand::Restore {
            to_version: earlier.version,
            snapshot,
        };
        self.execute(caller, id, command, if_version).await
    }

    /// Whether the caller may restore this authentication (it exists, is visible to them,
    /// is not purged, and their role allows restoring).
    async fn check_restore(&self, caller: &Caller, id: AuthenticationId) -> Result<(), AppError> {
        let model = self.model().model().read().await;
        let auth = model
            .current(id)
            .filter(|a| model.allows(caller.user, a.workspace, Action::View))
            .ok_or(AppError::NotFound)?;
        if auth.lifecycle == Lifecycle::Purged {
            return Err(AuthenticationError::Purged.into());
        }
        decide_access(
            &model.directory,
            caller.user,
            auth.workspace,
            Action::Restore,
        )
        .into_result()
        .map_err(|reason| AuthenticationError::AccessDenied {
            action: Action::Restore,
            workspace: auth.workspace,
            reason,
        })?;
        Ok(())
    }

    /// Folds an authentication's stream up to a version or time.
    pub async fn state_as_of(
        &self,
        id: AuthenticationId,
        target: RestoreTarget,
    ) -> Result<(AuthenticationState<SealedSecret>, Option<Timestamp>), AppError> {
        let range = match target {
            RestoreTarget::Version(v) => StreamRange::up_to_version(StreamVersion(v)),
            RestoreTarget::Time(t) => StreamRange::up_to_time(t),
        };
        let envelopes = self
            .store()
            .read_stream(&payloads::authentication_stream(id), range)
            .await?;
        let mut state = AuthenticationState::default();
        let mut at = None;
        for envelope in &envelopes {
            if let DomainEvent::Authentication(_, event) = payloads::decode(envelope)? {
                state.apply(&event);
                at = Some(envelope.body.recorded_at);
            }
        }
        if state.current.is_none() {
            return Err(AppError::NotFound);
        }
        Ok((state, at))
    }

    /// The id of the event at `version` of an authentication's stream.
    pub(crate) async fn event_id_at(
        &self,
        id: AuthenticationId,
        version: u64,
    ) -> Result<uuid::Uuid, AppError> {
        // A current secret's sealing event is in the live record; an older version's is in
        // its history entry, which may still be being written.
        let live = {
            let model = self.model().model().read().await;
            model
                .authentications
                .get(id)
                .and_then(|record| record.sealing_event(version))
        };
        if let Some(event_id) = live {
            return Ok(event_id);
        }
        let store = self.model().settle().await?;
        crate::projections::model::history_at(store, id, version)?
            .map(|stored| stored.entry.event_id.0)
            .ok_or(AppError::NotFound)
    }

    /// Runs a directory command (organizations, users, workspaces, memberships) as the
    /// system: bootstrap and set-up, with no caller whose rights to check. A request of a
    /// user goes through [`App::directory_command`].
    pub async fn directory_command_as_system(
        &self,
        command: DirectoryCommand,
    ) -> Result<Vec<DirectoryEvent>, AppError> {
        self.run_directory_command(&super::system_caller(), command, None)
            .await
            .map(|outcome| outcome.events)
    }

    /// Decides and appends a directory command for `caller`, whose rights are checked.
    /// `if_version` (from `If-Match`) must be the directory's version when given: of racing
    /// changes made against one version, one lands.
    pub(super) async fn run_directory_command(
        &self,
        caller: &Caller,
        command: DirectoryCommand,
        if_version: Option<u64>,
    ) -> Result<DirectoryOutcome, AppError> {
        if let Some(earlier) = self.earlier_outcome(caller).await? {
            return self.directory_outcome_of(&earlier).await;
        }
        let (events, version) = {
            let model = self.model().model().read().await;
            let version = model.directory_version;
            if let Some(expected) = if_version.filter(|v| *v != version) {
                return Err(AppError::DirectoryVersionMismatch {
                    expected,
                    actual: version,
                });
            }
            (directory::decide(&model.directory, command)?, version)
        };
        let outcome = self
            .append_plain(
                payloads::directory_stream(),
                version,
                caller,
                &events,
                |e| (e.event_type(), e.schema_version()),
                Vec::new(),
            )
            .await?;
        self.model().wait_for(outcome.last_position.0).await?;
        if outcome.replayed_answer.is_some() {
            return self.directory_outcome_of(&outcome).await;
        }
        Ok(DirectoryOutcome {
            events,
            version: outcome.stream_version.0,
        })
    }

    /// What an earlier append of a directory command wrote, and the version it produced (the
    /// answer of a replayed command).
    async fn directory_outcome_of(
        &self,
        outcome: &crate::ledger::AppendOutcome,
    ) -> Result<DirectoryOutcome, AppError> {
        Ok(DirectoryOutcome {
            events: self.directory_events_of(outcome).await?,
            version: outcome.stream_version.0,
        })
    }

    /// The directory events an earlier append wrote (the answer of a replayed command).
    async fn directory_events_of(
        &self,
        outcome: &crate::ledger::AppendOutcome,
    ) -> Result<Vec<DirectoryEvent>, AppError> {
        Ok(self
            .events_of(outcome)
            .await?
            .into_iter()
            .filter_map(|e| match e {
                DomainEvent::Directory(event) => Some(event),
                _ => None,
            })
            .collect())
    }

    /// Appends events that carry no secrets, with the caller's idempotency record holding
    /// `answer` (often empty: a replay reads the events back).
    pub(super) async fn append_plain<E: serde::Serialize>(
        &self,
        stream: crate::ledger::StreamId,
        version: u64,
        caller: &Caller,
        events: &[E],
        kind: impl Fn(&E) -> (&'static str, u16),
        answer: Vec<u8>,
    ) -> Result<crate::ledger::AppendOutcome, AppError> {
        let meta = caller.meta();
        let mut new_events = Vec::with_capacity(events.len());
        for event in events {
            let (event_type, schema_version) = kind(event);
            new_events.push(NewEvent {
                event_id: EventId::new(),
                event_type: event_type.to_owned(),
                schema_version,
                payload: payloads::encode_payload(event)?,
                meta: meta.clone(),
            });
        }
        let outcome = self
            .store()
            .append(
                AppendRequest::new(stream, expected(version), new_events)
                    .idempotent(caller.claim(answer)),
            )
            .await
            .map_err(conflict)?;
        Ok(outcome)
    }

    /// [`App::append_plain`], answering once the read model has the events (so the caller's
    /// next read sees them).
    pub(super) async fn append_plain_applied<E: serde::Serialize>(
        &self,
        stream: crate::ledger::StreamId,
        version: u64,
        caller: &Caller,
        events: &[E],
        kind: impl Fn(&E) -> (&'static str, u16),
        answer: Vec<u8>,
    ) -> Result<crate::ledger::AppendOutcome, AppError> {
        let outcome = self
            .append_plain(stream, version, caller, events, kind, answer)
            .await?;
        self.model().wait_for(outcome.last_position.0).await?;
        Ok(outcome)
    }

    /// Destroys a purged authentication's data key if it is still there.
    fn finish_purge(&self, id: AuthenticationId) -> Result<(), AppError> {
        if matches!(
            self.keys.status(id.as_uuid())?,
            crate::crypto::DataKeyStatus::Active { .. }
        ) {
            self.keys.destroy(id.as_uuid())?;
        }
        Ok(())
    }

    /// Seals every secret of an event, bound to (authentication, field, event id).
    fn seal_event(
        &self,
        id: AuthenticationId,
        event_id: EventId,
        data_key: &DataKey,
        event: crate::domain::authentication::AuthenticationEvent<SecretText>,
    ) -> Result<StoredAuthenticationEvent, AppError> {
        event.map_secrets(|field: &FieldName, secret: SecretText| {
            let plain = SecretBytes::from_slice(secret.expose().as_bytes());
            let context = SealContext {
                owner: id.as_uuid(),
                field: field.as_str(),
                event_id: event_id.0,
            };
            let sealed = seal(data_key, &context, &plain)?;
            Ok::<_, AppError>(SealedSecret {
                sealed,
                fingerprint: self.fingerprinter.fingerprint(&plain),
            })
        })
    }

    /// Opens one sealed field value, set by the event at `version` of the authentication's
    /// stream (the event id comes from the log, never from the sealed value itself).
    pub(crate) async fn unseal(
        &self,
        id: AuthenticationId,
        field: &FieldName,
        version: u64,
        data_key: &DataKey,
        value: &SealedSecret,
    ) -> Result<SecretText, AppError> {
        let event_id = self.event_id_at(id, version).await?;
        self.open_sealed(id, field, event_id, data_key, value)
    }

    /// Opens a sealed value with the event id it was sealed with.
    pub(crate) fn open_sealed(
        &self,
        id: AuthenticationId,
        field: &FieldName,
        event_id: uuid::Uuid,
        data_key: &DataKey,
        value: &SealedSecret,
    ) -> Result<SecretText, AppError> {
        let context = SealContext {
            owner: id.as_uuid(),
            field: field.as_str(),
            event_id,
        };
        let plain = crate::crypto::open(data_key, &context, &value.sealed)?;
        let text = std::str::from_utf8(plain.expose())
            .map_err(|_| {
                AppError::Crypto(crate::crypto::CryptoError::OpenFailed {
                    field: field.as_str().to_owned(),
                })
            })?
            .to_owned();
        Ok(SecretText::new(text))
    }
}
