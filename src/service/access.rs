//! Who may call what: the roles a token can hold and the role each RPC needs.
//!
//! | RPC | needs |
//! |---|---|
//! | `grpc.health.v1.Health/*` | nothing (load balancer probes carry no token) |
//! | `EventLog/Produce`, `InitProducer` | producer |
//! | `EventLog/Fetch`, `Subscribe`, `ListOffsets`, `CommitOffsets`, `GetCommittedOffsets`, `GroupSubscribe` | consumer |
//! | `Admin/ListTopics`, `DescribeTopic`, `ListGroups`, `DescribeGroup` | any valid token |
//! | server reflection | any valid token |
//! | `Admin/CreateTopic`, `CreatePartitions`, `DeleteTopic`, `UpdateTopicConfig`, `CompactTopic`, `DeleteGroup`, `ResetGroupOffsets`, `ReassignPartition`, `BalanceLeaders`, `AddNode`, `RemoveNode` | admin |
//! | `eventlog.cluster.v1.RaftTransport/*`, `ClusterControl/*`, `PartitionReads/*`, `ReplicaMaintenance/*` | node |
//!
//! Admin may call everything but node-to-node traffic: Raft messages from anyone but a
//! node could rewrite the log, so only the `node` role (held by the token other nodes
//! send, and by nothing else) opens those services. Read-only metadata is open to every role because
//! producers and consumers need it to find partitions and lag. An RPC missing from the
//! table needs admin, so a new RPC is closed until someone decides otherwise.
//!
//! Beyond the role, a token line may be scoped to topic and group name prefixes
//! ([`scope`](super::scope)): a call may name what the lines granting its role cover.

use std::fmt;

use super::scope::Scope;

/// A role a token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including creating and deleting topics and groups.
    Admin,
    /// Appending records.
    Producer,
    /// Reading records and keeping consumer-group offsets.
    Consumer,
    /// Another node of the cluster: Raft messages and forwarded proposals only.
    Node,
}

impl Role {
    /// Parses `admin`, `producer`, `consumer` or `node`.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "producer" => Some(Role::Producer),
            "consumer" => Some(Role::Consumer),
            "node" => Some(Role::Node),
            _ => None,
        }
    }

    /// This role's bit in a [`Roles`] set.
    fn bit(self) -> u8 {
        match self {
            Role::Admin => 1,
            Role::Producer => 2,
            Role::Consumer => 4,
            Role::Node => 8,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Admin => "admin",
            Role::Producer => "producer",
            Role::Consumer => "consumer",
            Role::Node => "node",
        })
    }
}

/// A set of roles, as a bit set so the token check can merge them without branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles(pub(crate) u8);

impl Roles {
    /// The set holding only `role`.
    pub fn of(role: Role) -> Roles {
        Roles(role.bit())
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether these roles may do what `role` may (admin may do everything but what
    /// only nodes may).
    pub fn allow(self, role: Role) -> bool {
        let admin = if role == Role::Node {
            0
        } else {
            Role::Admin.bit()
        };
        self.0 & (role.bit() | admin) != 0
    }

    /// The roles of `grants` together.
    pub fn of_grants<'a>(grants: impl IntoIterator<Item = &'a Grant>) -> Roles {
        Roles(grants.into_iter().fold(0, |bits, g| bits | g.role.bit()))
    }
}

/// What one line of the token file grants: a role, on the names of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The role.
    pub role: Role,
    /// The topics and groups it covers.
    pub scope: Scope,
}

/// What a call needing `needed` may name, given the token's `grants`: the union of the
/// scopes of the grants that allow the call (every grant, for calls any token may make).
pub fn scope_for<'a>(needed: Access, grants: impl IntoIterator<Item = &'a Grant>) -> Scope {
    let mut scope = Scope::nothing();
    for grant in grants {
        let allows = match needed {
            Access::Open | Access::Authenticated => true,
            Access::Role(role) => Roles::of(grant.role).allow(role),
        };
        if allows {
            scope.union(&grant.scope);
        }
    }
    scope
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = [Role::Admin, Role::Producer, Role::Consumer, Role::Node]
            .into_iter()
            .filter(|role| self.0 & role.bit() != 0)
            .map(|role| role.to_string())
            .collect();
        f.write_str(&names.join(", "))
    }
}

/// What a call needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token at all.
    Open,
    /// Any valid token, whatever its role.
    Authenticated,
    /// A token with this role (or admin).
    Role(Role),
}

/// What a call to `path` (`/package.Service/Method`) needs.
pub fn required(path: &str) -> Access {
    let path = path.trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    match (service, method) {
        ("grpc.health.v1.Health", _) => Access::Open,
        ("grpc.reflection.v1.ServerReflection" | "grpc.reflection.v1alpha.ServerReflection", _) => {
            Access::Authenticated
        }
        ("eventlog.v1.EventLog", "Produce" | "InitProducer") => Access::Role(Role::Producer),
        (
            "eventlog.v1.EventLog",
            "Fetch"
            | "Subscribe"
            | "ListOffsets"
            | "CommitOffsets"
            | "GetCommittedOffsets"
            | "GroupSubscribe",
        ) => Access::Role(Role::Consumer),
        ("eventlog.v1.Admin", "ListTopics" | "DescribeTopic" | "ListGroups" | "DescribeGroup") => {
            Access::Authenticated
        }
        (
            "eventlog.cluster.v1.RaftTransport"
            | "eventlog.cluster.v1.ClusterControl"
            | "eventlog.cluster.v1.PartitionReads"
            | "eventlog.cluster.v1.ReplicaMaintenance",
            _,
        ) => Access::Role(Role::Node),
        _ => Access::Role(Role::Admin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_the_table_opens_exists_in_the_proto_files() {
        // A misspelt name in `required` would silently make that RPC admin-only: the
        // twelve methods the table opens to other roles, and the sixteen node-to-node
        // methods, must all be real.
        let opened = crate::proto::methods::RPC_METHODS
            .iter()
            .flat_map(|(service, methods)| methods.iter().map(move |m| format!("/{service}/{m}")))
            .filter(|path| required(path) != Access::Role(Role::Admin))
            .count();
        assert_eq!(opened, 28);
    }

    #[test]
    fn the_table_matches_the_documented_roles() {
        assert_eq!(required("/grpc.health.v1.Health/Check"), Access::Open);
        assert_eq!(
            required("/eventlog.v1.EventLog/Produce"),
            Access::Role(Role::Producer)
        );
        assert_eq!(
            required("/eventlog.v1.EventLog/InitProducer"),
            Access::Role(Role::Producer)
        );
        assert_eq!(
            required("/eventlog.v1.EventLog/Subscribe"),
            Access::Role(Role::Consumer)
        );
        assert_eq!(
            required("/eventlog.v1.EventLog/GroupSubscribe"),
            Access::Role(Role::Consumer)
        );
        assert_eq!(
            required("/eventlog.v1.Admin/DescribeTopic"),
            Access::Authenticated
        );
        assert_eq!(
            required("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Access::Authenticated
        );
        for admin in ["CreateTopic", "DeleteTopic", "ResetGroupOffsets", "Unknown"] {
            assert_eq!(
                required(&format!("/eventlog.v1.Admin/{admin}")),
                Access::Role(Role::Admin)
            );
        }
    }

    #[test]
    fn admin_may_do_everything_and_other_roles_only_their_own() {
        let admin = Roles::of(Role::Admin);
        let producer = Roles::of(Role::Producer);
        assert!(admin.allow(Role::Producer) && admin.allow(Role::Consumer));
        assert!(producer.allow(Role::Producer));
        assert!(!producer.allow(Role::Consumer) && !producer.allow(Role::Admin));
        assert!(!admin.allow(Role::Node), "admin may not speak for a node");
        assert!(Roles::of(Role::Node).allow(Role::Node));
        assert!(!Roles::of(Role::Node).allow(Role::Consumer));
        assert_eq!(
            required("/eventlog.cluster.v1.RaftTransport/AppendEntries"),
            Access::Role(Role::Node)
        );
        assert_eq!(
            required("/eventlog.cluster.v1.ClusterControl/Propose"),
            Access::Role(Role::Node)
        );
        assert!(!Roles::default().allow(Role::Consumer));
    }
}
