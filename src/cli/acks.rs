//! `--acks`: what a produce's acknowledgement waits for on a replicated topic.

use crate::proto::v1 as pb;

/// The values of `--acks`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AcksArg {
    /// Once a majority of the partition's replicas hold the records (the default):
    /// losing any minority of the replicas loses nothing acknowledged.
    #[default]
    All,
    /// Once the partition leader holds them: faster, but records acknowledged so are
    /// lost if the leader fails before a majority has them.
    Leader,
}

impl From<AcksArg> for pb::Acks {
    fn from(arg: AcksArg) -> pb::Acks {
        match arg {
            AcksArg::All => pb::Acks::All,
            AcksArg::Leader => pb::Acks::Leader,
        }
    }
}
