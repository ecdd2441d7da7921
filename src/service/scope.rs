//! Which topics, consumer groups and producer names a token may name: prefixes per line
//! of the token file, like Kafka's prefixed ACLs.
//!
//! A token line without prefixes may name every topic, group and producer. A line with
//! any `topic=PREFIX`, `group=PREFIX` or `producer=PREFIX` field may name only names that
//! start with one of its prefixes, of each kind: a scoped line without `group=` fields
//! may name no group (fail closed), and `group=` (an empty prefix) means every group.
//! Producer names matter because initialising one fences the producer that held it. A
//! token on several lines may name what any of its lines with the needed role may.
//!
//! The [`auth`](super::auth) layer attaches the [`Scope`] of the calling token (for the
//! role the RPC needs) to each request; every handler that names a topic or a group
//! checks it before calling the broker, which knows nothing of tokens. Listings are
//! filtered to what the scope may name.

use std::fmt;

use tonic::{Request, Status};

/// Name prefixes of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Prefixes {
    /// Every name.
    All,
    /// Names starting with one of these (none: no name at all).
    Only(Vec<String>),
}

impl Prefixes {
    fn allows(&self, name: &str) -> bool {
        match self {
            Prefixes::All => true,
            Prefixes::Only(prefixes) => prefixes.iter().any(|p| name.starts_with(p.as_str())),
        }
    }

    fn union(&mut self, other: &Prefixes) {
        match (&mut *self, other) {
            (Prefixes::All, _) => {}
            (_, Prefixes::All) => *self = Prefixes::All,
            (Prefixes::Only(mine), Prefixes::Only(theirs)) => mine.extend(theirs.iter().cloned()),
        }
    }
}

impl fmt::Display for Prefixes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Prefixes::All => f.write_str("every name"),
            Prefixes::Only(prefixes) if prefixes.is_empty() => f.write_str("none"),
            Prefixes::Only(prefixes) => {
                let quoted: Vec<String> = prefixes.iter().map(|p| format!("{p:?}")).collect();
                write!(f, "prefixes {}", quoted.join(", "))
            }
        }
    }
}

/// The topics and groups a call may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    topics: Prefixes,
    groups: Prefixes,
    producers: Prefixes,
}

impl Scope {
    /// Every topic and group: a token line without prefixes, or no authentication.
    pub fn everything() -> Scope {
        Scope {
            topics: Prefixes::All,
            groups: Prefixes::All,
            producers: Prefixes::All,
        }
    }

    /// No topic and no group: the start of a union.
    pub fn nothing() -> Scope {
        Scope {
            topics: Prefixes::Only(Vec::new()),
            groups: Prefixes::Only(Vec::new()),
            producers: Prefixes::Only(Vec::new()),
        }
    }

    /// The scope of a token line's `topic=` and `group=` fields (`None` if the line
    /// has none, meaning everything); an error names a field that is neither.
    pub fn of_fields<'a>(fields: impl Iterator<Item = &'a str>) -> Result<Scope, String> {
        let mut scope: Option<Scope> = None;
        for field in fields {
            let kinds = scope.get_or_insert_with(Scope::nothing);
            let (kind, prefix) = match field.split_once('=') {
                Some(("topic", prefix)) => (&mut kinds.topics, prefix),
                Some(("group", prefix)) => (&mut kinds.groups, prefix),
                Some(("producer", prefix)) => (&mut kinds.producers, prefix),
                _ => {
                    return Err(format!(
                        "unexpected field {field:?} (expected topic=PREFIX, group=PREFIX or producer=PREFIX)"
                    ));
                }
            };
            kind.union(&Prefixes::Only(vec![prefix.to_string()]));
        }
        Ok(scope.unwrap_or_else(Scope::everything))
    }

    /// Adds what `other` may name.
    pub fn union(&mut self, other: &Scope) {
        self.topics.union(&other.topics);
        self.groups.union(&other.groups);
        self.producers.union(&other.producers);
    }

    /// Whether the scope may name topic `name`.
    pub fn allows_topic(&self, name: &str) -> bool {
        self.topics.allows(name)
    }

    /// Whether the scope may name every topic (a listing needs no filtering).
    pub fn allows_every_topic(&self) -> bool {
        self.topics == Prefixes::All
    }

    /// Whether the scope may name every group.
    pub fn allows_every_group(&self) -> bool {
        self.groups == Prefixes::All
    }

    /// Whether the scope may name group `name`.
    pub fn allows_group(&self, name: &str) -> bool {
        self.groups.allows(name)
    }

    /// PERMISSION_DENIED naming the topic unless the scope may name it.
    pub fn check_topic(&self, name: &str) -> Result<(), Status> {
        match self.allows_topic(name) {
            true => Ok(()),
            false => Err(denied("topic", name, &self.topics)),
        }
    }

    /// PERMISSION_DENIED naming the group unless the scope may name it.
    pub fn check_group(&self, name: &str) -> Result<(), Status> {
        match self.allows_group(name) {
            true => Ok(()),
            false => Err(denied("group", name, &self.groups)),
        }
    }

    /// PERMISSION_DENIED naming the producer name unless the scope may name it.
    pub fn check_producer(&self, name: &str) -> Result<(), Status> {
        match self.producers.allows(name) {
            true => Ok(()),
            false => Err(denied("producer name", name, &self.producers)),
        }
    }

    /// The scope the token check attached to `request`. Every service sits behind the
    /// check, so a request without one is refused rather than let through.
    pub fn of<T>(request: &Request<T>) -> Result<Scope, Status> {
        request.extensions().get::<Scope>().cloned().ok_or_else(|| {
            Status::permission_denied("the call carries no access scope; it is refused")
        })
    }
}

fn denied(kind: &str, name: &str, allowed: &Prefixes) -> Status {
    tracing::debug!(kind, name, "rejected a request outside the token's scope");
    Status::permission_denied(format!(
        "{kind} {name:?} is outside this token's scope (its {kind}s: {allowed})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(fields: &str) -> Scope {
        Scope::of_fields(fields.split_whitespace()).unwrap()
    }

    #[test]
    fn no_fields_means_everything_and_a_scoped_line_is_closed_for_unlisted_kinds() {
        assert_eq!(scope(""), Scope::everything());
        let orders = scope("topic=orders. topic=audit");
        assert!(orders.allows_topic("orders.eu") && orders.allows_topic("audit"));
        assert!(!orders.allows_topic("payments") && !orders.allows_topic("order"));
        assert!(
            !orders.allows_group("anything"),
            "no group= field: no group"
        );
        let any_group = scope("topic=orders. group=");
        assert!(any_group.allows_group("g"));
        let status = orders.check_topic("payments").unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert!(
            status.message().contains("topic \"payments\""),
            "{status:?}"
        );
        assert!(status.message().contains("prefixes \"orders.\", \"audit\""));
        let status = orders.check_group("g1").unwrap_err();
        assert!(status.message().contains("group \"g1\""), "{status:?}");
        assert!(Scope::of_fields(["topics=x"].into_iter()).is_err());
    }

    #[test]
    fn producer_names_are_a_kind_of_their_own() {
        assert!(scope("").check_producer("anything").is_ok());
        let team = scope("topic=team-a. producer=team-a.");
        assert!(team.check_producer("team-a.billing").is_ok());
        let status = team.check_producer("team-b.billing").unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert!(
            status
                .message()
                .contains("producer name \"team-b.billing\"")
        );
        // A scoped line without producer= fields may name no producer (fail closed).
        assert!(scope("topic=team-a.").check_producer("team-a.x").is_err());
    }

    #[test]
    fn unions_add_what_either_may_name() {
        let mut union = Scope::nothing();
        union.union(&scope("topic=a."));
        union.union(&scope("group=g."));
        assert!(union.allows_topic("a.1") && union.allows_group("g.1"));
        assert!(!union.allows_topic("b.1") && !union.allows_group("h.1"));
        union.union(&Scope::everything());
        assert_eq!(union, Scope::everything());
    }
}
