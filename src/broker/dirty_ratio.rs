//! The dirty ratio that starts background compaction of a topic: the share of its sealed
//! bytes written since the last compaction.

use serde::{Deserialize, Serialize};

/// A ratio in `0.0..=1.0` (never NaN), so it can be compared for equality and stored.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct DirtyRatio(f64);

// Sound because the constructor rejects NaN, the only value that is not equal to itself.
impl Eq for DirtyRatio {}

impl DirtyRatio {
    /// Kafka's default `min.cleanable.dirty.ratio`: compact once half the sealed bytes
    /// are new, so each compaction at least halves what the next one has to rewrite.
    pub const DEFAULT: DirtyRatio = DirtyRatio(0.5);

    /// The ratio, or an error naming the accepted range.
    pub fn new(value: f64) -> Result<DirtyRatio, String> {
        if (0.0..=1.0).contains(&value) {
            Ok(DirtyRatio(value))
        } else {
            Err(format!("dirty ratio {value} is outside 0.0..=1.0"))
        }
    }

    /// The ratio as a number.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for DirtyRatio {
    type Error = String;

    fn try_from(value: f64) -> Result<Self, String> {
        DirtyRatio::new(value)
    }
}

impl From<DirtyRatio> for f64 {
    fn from(ratio: DirtyRatio) -> f64 {
        ratio.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ratios_between_zero_and_one_are_accepted() {
        assert!(DirtyRatio::new(0.0).is_ok());
        assert!(DirtyRatio::new(1.0).is_ok());
        assert!(DirtyRatio::new(1.5).is_err());
        assert!(DirtyRatio::new(-0.1).is_err());
        assert!(DirtyRatio::new(f64::NAN).is_err());
        let parsed: Result<DirtyRatio, _> = serde_json::from_str("2.0");
        assert!(parsed.is_err());
    }
}
