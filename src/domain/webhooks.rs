//! Webhook subscriptions: a user asks for the events they may see to be pushed to a URL of
//! theirs, signed. Pure rules: what a subscription may name, who may change it, what each
//! command records. Whether the URL may be called at all (https, no private address) is the
//! outbound policy's rule, applied by the application before it decides; which events a
//! subscription carries is [`crate::domain::visibility::event_visible`] for its owner, applied
//! per delivery.

use serde::{Deserialize, Serialize};

use crate::domain::access::{decide_access, Action};
use crate::domain::directory::Directory;
use crate::domain::ids::{UserId, WebhookId, WorkspaceId};
use crate::domain::services::OpaqueSealed;

/// Subscriptions one user may hold at once.
pub const MAX_WEBHOOKS_PER_USER: usize = 20;
/// Longest receiver URL.
pub const MAX_URL_BYTES: usize = 2048;
/// Most event types one subscription may name.
pub const MAX_EVENT_TYPES: usize = 64;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// A subscription as the ledger knows it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// Its id (the stream id).
    pub id: WebhookId,
    /// The user whose rights decide what it carries; the only one who may change it.
    pub owner: UserId,
    /// The receiver's scheme, host and port, as shown to its owner (the rest of the URL
    /// may carry a credential of the receiver's, so it is kept sealed and never shown).
    pub receiver: String,
    /// The whole receiver URL, sealed under the subscription's data key.
    pub url: OpaqueSealed,
    /// Only these event types (empty: every type).
    pub event_types: Vec<String>,
    /// Only events touching this workspace.
    pub workspace: Option<WorkspaceId>,
    /// Free text for the owner.
    pub description: String,
    /// Whether deliveries run.
    pub status: WebhookStatus,
    /// The stream's version.
    pub version: u64,
    /// The log position of its `webhook.subscribed` event: deliveries start there.
    pub subscribed_at: u64,
}

/// Whether a subscription's deliveries run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookStatus {
    /// Deliveries run.
    Active,
    /// Deliveries stopped: the receiver failed for the whole retry period. Enabling it
    /// resumes with the event that was not delivered.
    Disabled {
        /// Why, in words (the last attempt's failure).
        reason: String,
        /// The position of the event that could not be delivered.
        undelivered: u64,
    },
}

/// Something that happened to a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookEvent {
    /// A user subscribed a URL. The signing secret is not in the event: it is derived from
    /// the subscription's data key, which unsubscribing destroys.
    Subscribed {
        /// The subscription.
        webhook: WebhookId,
        /// Whose rights decide what it carries.
        owner: UserId,
        /// The receiver's scheme, host and port.
        receiver: String,
        /// The whole receiver URL, sealed.
        url: OpaqueSealed,
        /// Only these event types (empty: every type).
        event_types: Vec<String>,
        /// Only events touching this workspace.
        workspace: Option<WorkspaceId>,
        /// Free text.
        description: String,
    },
    /// Deliveries stopped after the receiver failed for the whole retry period (appended by
    /// the system).
    Disabled {
        /// The last attempt's failure.
        reason: String,
        /// The event that could not be delivered.
        undelivered: u64,
    },
    /// The owner resumed deliveries.
    Enabled,
    /// The owner removed the subscription; nothing more is delivered.
    Unsubscribed,
}

impl WebhookEvent {
    /// Every webhook event type string.
    pub const TYPES: [&'static str; 4] = [
        "webhook.subscribed",
        "webhook.disabled",
        "webhook.enabled",
        "webhook.unsubscribed",
    ];

    /// Stable type string.
    pub fn event_type(&self) -> &'static str {
        Self::TYPES[match self {
            WebhookEvent::Subscribed { .. } => 0,
            WebhookEvent::Disabled { .. } => 1,
            WebhookEvent::Enabled => 2,
            WebhookEvent::Unsubscribed => 3,
        }]
    }

    /// Payload schema version.
    pub fn schema_version(&self) -> u16 {
        1
    }
}

/// What a caller asks of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookCommand {
    /// Subscribe `url` (already checked against the outbound policy).
    Subscribe {
        /// The new subscription's id.
        webhook: WebhookId,
        /// The receiver's scheme, host and port.
        receiver: String,
        /// The whole receiver URL, sealed.
        url: OpaqueSealed,
        /// Only these event types (checked to be event types of the ledger).
        event_types: Vec<String>,
        /// Only events touching this workspace.
        workspace: Option<WorkspaceId>,
        /// Free text.
        description: String,
    },
    /// Resume a disabled subscription.
    Enable,
    /// Remove it.
    Unsubscribe,
    /// The system stops a subscription whose receiver kept failing.
    Disable {
        /// The last failure.
        reason: String,
        /// The event not delivered.
        undelivered: u64,
    },
}

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookActor {
    /// A user.
    User(UserId),
    /// The server's delivery work.
    System,
}

/// Why a webhook command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// No such subscription, or not the caller's (one answer for both).
    #[error("webhook: not found")]
    NotFound,
    /// The subscription id is taken (a retry with a new id would not be).
    #[error("webhook: id is already used")]
    AlreadyExists,
    /// The URL may not be used.
    #[error("url: {reason}")]
    Url {
        /// Why not.
        reason: String,
    },
    /// Too many event types.
    #[error("event_types: at most {MAX_EVENT_TYPES} event types")]
    TooManyEventTypes,
    /// The workspace does not exist or the owner may not see it (one answer for both).
    #[error("workspace: not found")]
    WorkspaceNotFound,
    /// The description is too long.
    #[error("description: at most {MAX_DESCRIPTION_CHARS} characters")]
    DescriptionTooLong,
    /// The user holds as many subscriptions as allowed.
    #[error(
        "webhooks: a user may hold at most {MAX_WEBHOOKS_PER_USER} subscriptions; remove one first"
    )]
    TooMany,
    /// Enabling a subscription whose deliveries run.
    #[error("webhook: is already active")]
    AlreadyActive,
    /// The system disables only active subscriptions.
    #[error("webhook: is already disabled")]
    AlreadyDisabled,
    /// Only the system disables, only users subscribe.
    #[error("webhook: this actor may not do that")]
    WrongActor,
}

impl WebhookError {
    /// The request field the refusal is about.
    pub fn field(&self) -> Option<String> {
        Some(
            match self {
                WebhookError::NotFound
                | WebhookError::AlreadyExists
                | WebhookError::AlreadyActive
                | WebhookError::AlreadyDisabled
                | WebhookError::WrongActor => "webhook",
                WebhookError::Url { .. } => "url",
                WebhookError::TooManyEventTypes => "event_types",
                WebhookError::WorkspaceNotFound => "workspace",
                WebhookError::DescriptionTooLong => "description",
                WebhookError::TooMany => "webhooks",
            }
            .to_owned(),
        )
    }
}

/// Decides a command against the subscription as it is (`None`: never subscribed, or
/// removed), the directory, and how many subscriptions the actor holds now.
pub fn decide_webhook(
    current: Option<&Webhook>,
    directory: &Directory,
    actor: WebhookActor,
    held_by_actor: usize,
    command: WebhookCommand,
) -> Result<Vec<WebhookEvent>, WebhookError> {
    match command {
        WebhookCommand::Subscribe {
            webhook,
            receiver,
            url,
            event_types,
            workspace,
            description,
        } => {
            let WebhookActor::User(owner) = actor else {
                return Err(WebhookError::WrongActor);
            };
            subscribe(current, directory, owner, held_by_actor)?;
            check_subscription(&event_types, &description)?;
            if let Some(workspace) = workspace {
                if !decide_access(directory, owner, workspace, Action::View).is_allowed() {
                    return Err(WebhookError::WorkspaceNotFound);
                }
            }
            Ok(vec![WebhookEvent::Subscribed {
                webhook,
                owner,
                receiver,
                url,
                event_types,
                workspace,
                description,
            }])
        }
        WebhookCommand::Enable => {
            let webhook = owned(current, actor)?;
            match webhook.status {
                WebhookStatus::Active => Err(WebhookError::AlreadyActive),
                WebhookStatus::Disabled { .. } => Ok(vec![WebhookEvent::Enabled]),
            }
        }
        WebhookCommand::Unsubscribe => {
            owned(current, actor)?;
            Ok(vec![WebhookEvent::Unsubscribed])
        }
        WebhookCommand::Disable {
            reason,
            undelivered,
        } => {
            let webhook = current.ok_or(WebhookError::NotFound)?;
            if actor != WebhookActor::System {
                return Err(WebhookError::WrongActor);
            }
            match webhook.status {
                WebhookStatus::Disabled { .. } => Err(WebhookError::AlreadyDisabled),
                WebhookStatus::Active => Ok(vec![WebhookEvent::Disabled {
                    reason,
                    undelivered,
                }]),
            }
        }
    }
}

fn subscribe(
    current: Option<&Webhook>,
    directory: &Directory,
    owner: UserId,
    held: usize,
) -> Result<(), WebhookError> {
    if current.is_some() {
        return Err(WebhookError::AlreadyExists);
    }
    if !directory.is_active(owner) {
        return Err(WebhookError::WrongActor);
    }
    if held >= MAX_WEBHOOKS_PER_USER {
        return Err(WebhookError::TooMany);
    }
    Ok(())
}

fn check_subscription(event_types: &[String], description: &str) -> Result<(), WebhookError> {
    if event_types.len() > MAX_EVENT_TYPES {
        return Err(WebhookError::TooManyEventTypes);
    }
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(WebhookError::DescriptionTooLong);
    }
    Ok(())
}

/// The subscription, if `actor` is its owner: anyone else is told it does not exist.
fn owned(current: Option<&Webhook>, actor: WebhookActor) -> Result<&Webhook, WebhookError> {
    match (current, actor) {
        (Some(webhook), WebhookActor::User(user)) if webhook.owner == user => Ok(webhook),
        _ => Err(WebhookError::NotFound),
    }
}

/// Folds one event, at stream `version` and log `position`, into the subscription (`None`
/// after it is removed).
pub fn apply_webhook(
    current: &mut Option<Webhook>,
    event: &WebhookEvent,
    version: u64,
    position: u64,
) {
    match event {
        WebhookEvent::Subscribed {
            webhook,
            owner,
            receiver,
            url,
            event_types,
            workspace,
            description,
        } => {
            *current = Some(Webhook {
                id: *webhook,
                owner: *owner,
                receiver: receiver.clone(),
                url: url.clone(),
                event_types: event_types.clone(),
                workspace: *workspace,
                description: description.clone(),
                status: WebhookStatus::Active,
                version,
                subscribed_at: position,
            });
        }
        WebhookEvent::Disabled {
            reason,
            undelivered,
        } => {
            if let Some(webhook) = current {
                webhook.status = WebhookStatus::Disabled {
                    reason: reason.clone(),
                    undelivered: *undelivered,
                };
                webhook.version = version;
            }
        }
        WebhookEvent::Enabled => {
            if let Some(webhook) = current {
                webhook.status = WebhookStatus::Active;
                webhook.version = version;
            }
        }
        WebhookEvent::Unsubscribed => *current = None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directory::fixtures::fixture;

    fn sealed_url() -> OpaqueSealed {
        OpaqueSealed {
            binding: uuid::Uuid::nil(),
            bytes: vec![1, 2, 3],
        }
    }

    fn subscribe_command(webhook: WebhookId) -> WebhookCommand {
        WebhookCommand::Subscribe {
            webhook,
            receiver: "https://hooks.example.com".into(),
            url: sealed_url(),
            event_types: vec!["authentication.created".into()],
            workspace: None,
            description: "alerts".into(),
        }
    }

    /// Given the events so far, the subscription they leave.
    fn given(events: &[WebhookEvent]) -> Option<Webhook> {
        let mut current = None;
        for (i, event) in events.iter().enumerate() {
            apply_webhook(&mut current, event, i as u64 + 1, 10 + i as u64);
        }
        current
    }

    fn subscribed_by(owner: UserId, webhook: WebhookId) -> WebhookEvent {
        WebhookEvent::Subscribed {
            webhook,
            owner,
            receiver: "https://hooks.example.com".into(),
            url: sealed_url(),
            event_types: Vec::new(),
            workspace: None,
            description: String::new(),
        }
    }

    #[test]
    fn a_user_subscribes_and_the_subscription_is_active() {
        let f = fixture();
        let id = WebhookId::new();
        let events = decide_webhook(
            None,
            &f.directory,
            WebhookActor::User(f.member),
            0,
            subscribe_command(id),
        )
        .expect("subscribed");
        let webhook = given(&events).expect("exists");
        assert_eq!(webhook.owner, f.member);
        assert_eq!(webhook.status, WebhookStatus::Active);
        assert_eq!(events[0].event_type(), "webhook.subscribed");
    }

    #[test]
    fn a_workspace_the_owner_may_not_see_is_not_found() {
        let f = fixture();
        let WebhookCommand::Subscribe {
            webhook,
            receiver,
            url,
            event_types,
            description,
            ..
        } = subscribe_command(WebhookId::new())
        else {
            unreachable!("a subscribe command")
        };
        let command = WebhookCommand::Subscribe {
            webhook,
            receiver,
            url,
            event_types,
            workspace: Some(f.personal(f.outsider)),
            description,
        };
        let refused = decide_webhook(None, &f.directory, WebhookActor::User(f.member), 0, command);
        assert_eq!(refused, Err(WebhookError::WorkspaceNotFound));
    }

    #[test]
    fn a_user_holds_a_bounded_number_of_subscriptions() {
        let f = fixture();
        let refused = decide_webhook(
            None,
            &f.directory,
            WebhookActor::User(f.member),
            MAX_WEBHOOKS_PER_USER,
            subscribe_command(WebhookId::new()),
        );
        assert_eq!(refused, Err(WebhookError::TooMany));
    }

    #[test]
    fn someone_else_is_told_the_subscription_does_not_exist() {
        let f = fixture();
        let current = given(&[subscribed_by(f.member, WebhookId::new())]);
        for command in [WebhookCommand::Unsubscribe, WebhookCommand::Enable] {
            let refused = decide_webhook(
                current.as_ref(),
                &f.directory,
                WebhookActor::User(f.admin),
                0,
                command.clone(),
            );
            assert_eq!(refused, Err(WebhookError::NotFound), "{command:?}");
            let missing =
                decide_webhook(None, &f.directory, WebhookActor::User(f.admin), 0, command);
            assert_eq!(missing, Err(WebhookError::NotFound));
        }
    }

    #[test]
    fn the_system_disables_and_the_owner_enables_again() {
        let f = fixture();
        let mut events = vec![subscribed_by(f.member, WebhookId::new())];
        let disable = WebhookCommand::Disable {
            reason: "the receiver answered 503".into(),
            undelivered: 41,
        };
        let by_user = decide_webhook(
            given(&events).as_ref(),
            &f.directory,
            WebhookActor::User(f.member),
            1,
            disable.clone(),
        );
        assert_eq!(by_user, Err(WebhookError::WrongActor));
        events.extend(
            decide_webhook(
                given(&events).as_ref(),
                &f.directory,
                WebhookActor::System,
                0,
                disable,
            )
            .expect("disabled"),
        );
        assert!(matches!(
            given(&events).expect("exists").status,
            WebhookStatus::Disabled {
                undelivered: 41,
                ..
            }
        ));
        events.extend(
            decide_webhook(
                given(&events).as_ref(),
                &f.directory,
                WebhookActor::User(f.member),
                1,
                WebhookCommand::Enable,
            )
            .expect("enabled"),
        );
        assert_eq!(
            given(&events).expect("exists").status,
            WebhookStatus::Active
        );
        let again = decide_webhook(
            given(&events).as_ref(),
            &f.directory,
            WebhookActor::User(f.member),
            1,
            WebhookCommand::Enable,
        );
        assert_eq!(again, Err(WebhookError::AlreadyActive));
    }

    #[test]
    fn unsubscribing_removes_it() {
        let f = fixture();
        let events = vec![
            subscribed_by(f.member, WebhookId::new()),
            WebhookEvent::Unsubscribed,
        ];
        assert_eq!(given(&events), None);
    }

    #[test]
    fn event_type_strings_are_stable() {
        assert_eq!(
            WebhookEvent::TYPES,
            [
                "webhook.subscribed",
                "webhook.disabled",
                "webhook.enabled",
                "webhook.unsubscribed"
            ]
        );
    }
}
