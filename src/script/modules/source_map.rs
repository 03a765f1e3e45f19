//! Generated-to-original positions of a transpiled module, and the stacks
//! and locations rewritten with them.

use oxc_sourcemap::Token;

/// Positions in generated JavaScript mapped back to the TypeScript source,
/// sorted by generated position. All 0-based, as source maps count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LineMap {
    points: Vec<Point>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Point {
    generated: (u32, u32),
    original: (u32, u32),
}

impl LineMap {
    pub(crate) fn from_tokens(tokens: impl Iterator<Item = Token>) -> Self {
        let mut points: Vec<Point> = tokens
            .map(|token| Point {
                generated: (token.get_dst_line(), token.get_dst_col()),
                original: (token.get_src_line(), token.get_src_col()),
            })
            .collect();
        points.sort_unstable();
        points.dedup_by_key(|point| point.generated);
        Self { points }
    }

    /// The 1-based original line and column of a 1-based generated position:
    /// the nearest mapping at or before it on its line, else the line's first.
    pub(crate) fn original(&self, line: u32, column: u32) -> Option<(u32, u32)> {
        let wanted = (line.checked_sub(1)?, column.saturating_sub(1));
        let after = self
            .points
            .partition_point(|point| point.generated <= wanted);
        let on_line = |point: &&Point| point.generated.0 == wanted.0;
        let point = after
            .checked_sub(1)
            .and_then(|at| self.points.get(at))
            .filter(|point| on_line(point))
            .or_else(|| self.points.get(after).filter(on_line))
            .or_else(|| after.checked_sub(1).and_then(|at| self.points.get(at)))?;
        Some((point.original.0 + 1, point.original.1 + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `((generated line, column), (original line, column))`, 0-based.
    type Mapping = ((u32, u32), (u32, u32));

    fn map(points: &[Mapping]) -> LineMap {
        LineMap::from_tokens(
            points
                .iter()
                .map(|&((dl, dc), (sl, sc))| Token::new(dl, dc, sl, sc, Some(0), None)),
        )
    }

    #[test]
    fn a_position_maps_to_the_mapping_before_it_on_its_line() {
        let map = map(&[((0, 0), (2, 0)), ((0, 10), (2, 14)), ((1, 2), (5, 4))]);
        assert_eq!(map.original(1, 1), Some((3, 1)));
        assert_eq!(map.original(1, 12), Some((3, 15)));
        assert_eq!(
            map.original(2, 1),
            Some((6, 5)),
            "before the first on its line"
        );
        assert_eq!(map.original(9, 1), Some((6, 5)), "past the end: the last");
        assert_eq!(LineMap::default().original(1, 1), None);
    }
}
