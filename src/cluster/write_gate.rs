//! The gate a partition's proposals pass on its leader, which a leadership handover
//! closes: a handover needs the leader's log to stop growing, so that the node taking
//! over holds all of it when it stands for election (a voter refuses a candidate whose
//! log is behind its own).
//!
//! Proposals enter the gate before their producer check and leave it once their batch
//! is committed (or failed), so that closing it and waiting for [`WriteGate::drained`]
//! leaves no proposal between its check and its entry in the log.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use super::types::NodeId;

/// One partition's proposal gate.
#[derive(Debug, Default)]
pub struct WriteGate {
    state: Mutex<GateState>,
    idle: Notify,
}

#[derive(Debug, Default)]
struct GateState {
    /// The node leadership is being handed to, while the gate is closed.
    closed_for: Option<NodeId>,
    /// Proposals inside the gate.
    in_flight: usize,
}

impl WriteGate {
    /// Lets a proposal in, or names the node leadership is being handed to.
    pub fn enter(self: &Arc<Self>) -> Result<GatePass, NodeId> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(to) = state.closed_for {
            return Err(to);
        }
        state.in_flight += 1;
        Ok(GatePass {
            gate: Arc::clone(self),
        })
    }

    /// Closes the gate for a handover to `to`; `None` while another handover holds it.
    /// The gate opens again when the returned guard is dropped, whatever happened.
    pub fn close(self: &Arc<Self>, to: NodeId) -> Option<ClosedGate> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.closed_for.is_some() {
            return None;
        }
        state.closed_for = Some(to);
        Some(ClosedGate {
            gate: Arc::clone(self),
        })
    }

    /// Waits until no proposal is inside the gate.
    pub async fn drained(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before looking, so a pass leaving in between still wakes us.
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Whether the proposal holding a pass is the only one inside the gate.
    pub fn alone(&self) -> bool {
        self.in_flight() == 1
    }

    fn in_flight(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_flight
    }
}

/// A proposal inside the gate; leaves it when dropped.
#[derive(Debug)]
pub struct GatePass {
    gate: Arc<WriteGate>,
}

impl Drop for GatePass {
    fn drop(&mut self) {
        let mut state = self
            .gate
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.in_flight -= 1;
        if state.in_flight == 0 {
            self.gate.idle.notify_waiters();
        }
    }
}

/// A gate closed for a handover; opens it again when dropped.
#[derive(Debug)]
pub struct ClosedGate {
    gate: Arc<WriteGate>,
}

impl Drop for ClosedGate {
    fn drop(&mut self) {
        self.gate
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed_for = None;
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_closed_gate_refuses_new_proposals_and_waits_for_those_inside() {
        let gate = Arc::new(WriteGate::default());
        let inside = gate.enter().expect("an open gate lets proposals in");
        let closed = gate.close(3).expect("the gate closes");
        assert_eq!(
            gate.enter().err(),
            Some(3),
            "the refusal names the new leader"
        );
        assert!(gate.close(2).is_none(), "one handover at a time");
        assert!(
            gate.drained().now_or_never().is_none(),
            "a proposal is still inside"
        );
        drop(inside);
        assert!(
            gate.drained().now_or_never().is_some(),
            "drained once the last proposal left"
        );
        drop(closed);
        assert!(gate.enter().is_ok(), "the gate opens again");
    }
}
