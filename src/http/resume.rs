//! The SSE event id: the next offset of every streamed partition, `0:17,1:4`. A
//! browser's `EventSource` sends the last id back as `Last-Event-ID` when it
//! reconnects, so the stream resumes exactly after what the client last saw, in
//! every partition at once.

use std::collections::BTreeMap;

use super::ApiError;

/// Writes the positions as an event id.
pub fn encode(positions: &BTreeMap<u32, u64>) -> String {
    positions
        .iter()
        .map(|(p, o)| format!("{p}:{o}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads an event id back; an id that is not this shape is refused, not guessed at.
pub fn parse(id: &str) -> Result<BTreeMap<u32, u64>, ApiError> {
    let bad = || ApiError::invalid(format!("Last-Event-ID {id:?} is not partition:offset,..."));
    let mut positions = BTreeMap::new();
    for pair in id.split(',') {
        let (partition, offset) = pair.split_once(':').ok_or_else(bad)?;
        let partition = partition.trim().parse().map_err(|_| bad())?;
        let offset = offset.trim().parse().map_err(|_| bad())?;
        if positions.insert(partition, offset).is_some() {
            return Err(bad());
        }
    }
    Ok(positions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_round_trips_and_junk_is_refused() {
        let positions = BTreeMap::from([(0, 17), (3, 4)]);
        assert_eq!(encode(&positions), "0:17,3:4");
        assert_eq!(parse("0:17,3:4").unwrap(), positions);
        for junk in ["", "0", "0:x", "0:1,0:2", "a:1"] {
            assert!(parse(junk).is_err(), "{junk:?}");
        }
    }
}
