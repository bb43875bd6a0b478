//! Access records: every use of an authentication's values, and every refused attempt on one,
//! recorded in the ledger next to the changes so that audit sees both.
//!
//! These are facts, not decisions: the application records them after access has been decided
//! (and before any value leaves the service).

use serde::{Deserialize, Serialize};

use super::ids::{AuthenticationId, StepId, UserId, WorkflowId, WorkspaceId};

/// The workflow step a resolution was made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowStepRef {
    /// The workflow.
    pub workflow: WorkflowId,
    /// The step inside it.
    pub step: StepId,
}

/// Something that was done with (or refused on) an authentication's values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessEvent {
    /// Field values were handed out for a workflow.
    Resolved {
        /// The authentication used.
        authentication: AuthenticationId,
        /// The user the workflow runs as.
        user: UserId,
        /// The workspace the workflow runs in.
        workspace: WorkspaceId,
        /// The fields whose values were returned.
        fields: Vec<String>,
        /// The workflow step, when the caller named one.
        workflow: Option<WorkflowStepRef>,
    },
    /// An attempt on the authentication was refused for lack of rights.
    Refused {
        /// The authentication aimed at.
        authentication: AuthenticationId,
        /// The user the attempt was made as, when known.
        user: Option<UserId>,
        /// What was attempted (`resolve`, `rename`, `move`, `restore`, …).
        action: String,
        /// The fields asked for (resolution only).
        fields: Vec<String>,
        /// The workflow step, when the caller named one.
        workflow: Option<WorkflowStepRef>,
        /// Why it was refused (never a secret).
        reason: String,
    },
}

impl AccessEvent {
    /// Every access event type string.
    pub const TYPES: [&'static str; 2] = ["access.resolved", "access.refused"];

    /// Stable type string.
    pub fn event_type(&self) -> &'static str {
        match self {
            AccessEvent::Resolved { .. } => Self::TYPES[0],
            AccessEvent::Refused { .. } => Self::TYPES[1],
        }
    }

    /// Schema version of the payload.
    pub fn schema_version(&self) -> u16 {
        1
    }

    /// The authentication the record is about.
    pub fn authentication(&self) -> AuthenticationId {
        match self {
            AccessEvent::Resolved { authentication, .. }
            | AccessEvent::Refused { authentication, .. } => *authentication,
        }
    }

    /// Whether this records a refusal.
    pub fn is_refusal(&self) -> bool {
        matches!(self, AccessEvent::Refused { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn types_and_subjects() {
        let id = AuthenticationId::from_uuid(Uuid::now_v7());
        let refused = AccessEvent::Refused {
            authentication: id,
            user: None,
            action: "resolve".into(),
            fields: vec!["token".into()],
            workflow: None,
            reason: "this user may not use it".into(),
        };
        assert_eq!(refused.event_type(), "access.refused");
        assert!(refused.is_refusal());
        assert_eq!(refused.authentication(), id);
        let resolved = AccessEvent::Resolved {
            authentication: id,
            user: UserId::from_uuid(Uuid::now_v7()),
            workspace: WorkspaceId::from_uuid(Uuid::now_v7()),
            fields: vec![],
            workflow: None,
        };
        assert_eq!(resolved.event_type(), "access.resolved");
        assert!(!resolved.is_refusal());
    }
}
