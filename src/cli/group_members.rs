//! The membership part of `eventlog group describe`: the generation, the strategy, and
//! each live member with where it connects from, when it joined and its partitions.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::output::{format_time_ms, write_table};
use crate::proto::v1 as pb;

/// Columns of the members table.
pub const MEMBER_HEADERS: [&str; 5] = ["MEMBER", "INSTANCE", "CLIENT", "JOINED", "PARTITIONS"];

/// The members table under a heading line; nothing for a group without members.
pub fn write_members(out: &mut impl Write, reply: &pb::DescribeGroupResponse) -> io::Result<()> {
    if reply.members.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\ngeneration {}, strategy {}, {} member(s)",
        reply.generation,
        reply.strategy,
        reply.members.len()
    )?;
    let rows: Vec<Vec<String>> = reply.members.iter().map(member_row).collect();
    write_table(out, &MEMBER_HEADERS, &rows)
}

/// A member's row: partitions as `topic/p`, releasing ones marked `(releasing)`, and a
/// disconnected static member's client as `(disconnected)`.
pub fn member_row(m: &pb::GroupMemberDescription) -> Vec<String> {
    let mut partitions = names(&m.assigned);
    partitions.extend(
        names(&m.revoking)
            .into_iter()
            .map(|p| format!("{p} (releasing)")),
    );
    let client = match m.connected {
        true => m.client_address.clone(),
        false => format!("{} (disconnected)", m.client_address),
    };
    vec![
        m.member_id.clone(),
        m.member_instance_id.clone().unwrap_or_else(|| "-".into()),
        client,
        format_time_ms(m.joined_at_ms),
        match partitions.is_empty() {
            true => "-".into(),
            false => partitions.join(","),
        },
    ]
}

/// The membership fields of the JSON description.
pub fn members_json(reply: &pb::DescribeGroupResponse) -> Value {
    let members: Vec<Value> = reply
        .members
        .iter()
        .map(|m| {
            json!({
                "member_id": m.member_id,
                "member_instance_id": m.member_instance_id,
                "client_address": m.client_address,
                "joined_at": format_time_ms(m.joined_at_ms),
                "connected": m.connected,
                "assigned": names(&m.assigned),
                "revoking": names(&m.revoking),
            })
        })
        .collect();
    json!({
        "generation": reply.generation,
        "strategy": reply.strategy,
        "members": members,
    })
}

fn names(topics: &[pb::TopicPartitions]) -> Vec<String> {
    topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| format!("{}/{p}", t.topic)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_row_lists_its_partitions_and_marks_releasing_ones() {
        let member = pb::GroupMemberDescription {
            member_id: "m-1".into(),
            member_instance_id: None,
            client_address: "127.0.0.1:5000".into(),
            joined_at_ms: 0,
            assigned: vec![pb::TopicPartitions {
                topic: "work".into(),
                partitions: vec![0, 3],
            }],
            revoking: vec![pb::TopicPartitions {
                topic: "work".into(),
                partitions: vec![5],
            }],
            connected: false,
        };
        let row = member_row(&member);
        assert_eq!(row[1], "-");
        assert_eq!(row[2], "127.0.0.1:5000 (disconnected)");
        assert_eq!(row[4], "work/0,work/3,work/5 (releasing)");
    }
}
