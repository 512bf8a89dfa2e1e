//! Series totals grouped by window or period: an ordered map of groups, each a hash
//! map from series to value.
//!
//! Groups close in key order, while an event touches one series of a group. Hashing
//! a series key is cheaper than the string comparisons that a single ordered map of
//! (group, series) would make on every lookup.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::series::SeriesKey;

/// Values per (group, series), iterated group by group in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouped<K: Ord, V> {
    groups: BTreeMap<K, FxHashMap<SeriesKey, V>>,
}

impl<K: Ord, V> Default for Grouped<K, V> {
    fn default() -> Self {
        Grouped {
            groups: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Copy, V> Grouped<K, V> {
    /// Returns the value of a series in a group.
    pub fn get(&self, group: &K, series: &SeriesKey) -> Option<&V> {
        self.groups
            .get(group)
            .and_then(|members| members.get(series))
    }

    /// Returns the value of a series in a group, inserting the default first if absent.
    pub fn get_or_default(&mut self, group: K, series: &SeriesKey) -> &mut V
    where
        V: Default,
    {
        self.groups
            .entry(group)
            .or_default()
            .entry(series.clone())
            .or_default()
    }

    /// Sets the value of a series in a group.
    pub fn insert(&mut self, group: K, series: SeriesKey, value: V) {
        self.groups.entry(group).or_default().insert(series, value);
    }

    /// Removes a series from a group, dropping the group when it empties.
    pub fn remove(&mut self, group: &K, series: &SeriesKey) -> Option<V> {
        let members = self.groups.get_mut(group)?;
        let removed = members.remove(series);
        if members.is_empty() {
            self.groups.remove(group);
        }
        removed
    }

    /// Returns the first group's key.
    pub fn first_group(&self) -> Option<&K> {
        self.groups.keys().next()
    }

    /// Removes the first group and returns its series sorted, so that outputs come in
    /// the same order on every run.
    pub fn pop_first_group(&mut self) -> Option<(K, Vec<(SeriesKey, V)>)> {
        let (group, members) = self.groups.pop_first()?;
        let mut members: Vec<(SeriesKey, V)> = members.into_iter().collect();
        members.sort_by(|left, right| left.0.cmp(&right.0));
        Some((group, members))
    }

    /// Returns the groups in key order.
    pub fn groups(&self) -> impl Iterator<Item = (&K, &FxHashMap<SeriesKey, V>)> {
        self.groups.iter()
    }

    /// Returns the groups in key order, mutably.
    pub fn groups_mut(&mut self) -> impl Iterator<Item = (&K, &mut FxHashMap<SeriesKey, V>)> {
        self.groups.iter_mut()
    }

    /// Drops groups that have no series left.
    pub fn drop_empty_groups(&mut self) {
        self.groups.retain(|_, members| !members.is_empty());
    }

    /// Returns every (group, series, value).
    pub fn iter(&self) -> impl Iterator<Item = (&K, &SeriesKey, &V)> {
        self.groups.iter().flat_map(|(group, members)| {
            members
                .iter()
                .map(move |(series, value)| (group, series, value))
        })
    }

    /// Returns the number of (group, series) entries.
    pub fn len(&self) -> usize {
        self.groups.values().map(FxHashMap::len).sum()
    }

    /// Returns whether there is no series in any group.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}
