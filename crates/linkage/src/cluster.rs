//! Clusters of records that are one person, from the pairs above the
//! threshold. Plain connected components let one false pair chain two people
//! (and everyone linked to them) into one; here two groups join only when
//! enough of the pairs between them are above the threshold.

/// Groups `records` records by the pairs `(a, b, probability)`. Pairs are
/// taken from the most probable down; two groups of sizes p and q join only
/// if at least `density × p × q` of the pairs between them are given (two
/// single records always join). Returns each record's group: the index of
/// the group's first record.
pub fn clusters(records: usize, pairs: &[(u32, u32, f64)], density: f64) -> Vec<u32> {
    // Neighbours of each record, to count the pairs between two groups.
    let mut degree = vec![0u32; records + 1];
    for &(a, b, _) in pairs {
        degree[a as usize + 1] += 1;
        degree[b as usize + 1] += 1;
    }
    for i in 1..degree.len() {
        degree[i] += degree[i - 1];
    }
    let mut fill = degree.clone();
    let mut neighbours = vec![0u32; pairs.len() * 2];
    for &(a, b, _) in pairs {
        neighbours[fill[a as usize] as usize] = b;
        fill[a as usize] += 1;
        neighbours[fill[b as usize] as usize] = a;
        fill[b as usize] += 1;
    }
    let of = |r: u32| &neighbours[degree[r as usize] as usize..degree[r as usize + 1] as usize];

    let mut group: Vec<u32> = (0..records as u32).collect();
    let mut members: Vec<Vec<u32>> = (0..records as u32).map(|r| vec![r]).collect();
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by(|&x, &y| pairs[y].2.total_cmp(&pairs[x].2).then(x.cmp(&y)));
    for i in order {
        let (a, b, _) = pairs[i];
        let (ga, gb) = (group[a as usize], group[b as usize]);
        if ga == gb {
            continue;
        }
        let (small, large) = if members[ga as usize].len() <= members[gb as usize].len() {
            (ga, gb)
        } else {
            (gb, ga)
        };
        let (p, q) = (members[small as usize].len(), members[large as usize].len());
        if p * q > 1 {
            let links = members[small as usize]
                .iter()
                .map(|&r| of(r).iter().filter(|&&n| group[n as usize] == large).count())
                .sum::<usize>();
            if (links as f64) < density * (p * q) as f64 {
                continue;
            }
        }
        let moved = std::mem::take(&mut members[small as usize]);
        for &r in &moved {
            group[r as usize] = large;
        }
        members[large as usize].extend(moved);
    }
    // Name each group by its first record.
    let mut first = vec![u32::MAX; records];
    for (r, &g) in group.iter().enumerate() {
        if first[g as usize] == u32::MAX {
            first[g as usize] = r as u32;
        }
    }
    group.iter().map(|&g| first[g as usize]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_false_pair_does_not_chain_two_people() {
        // 0–1 and 2–3 are two people; 1–2 is a weaker false pair.
        let pairs = [(0, 1, 0.99), (2, 3, 0.98), (1, 2, 0.6)];
        assert_eq!(clusters(5, &pairs, 0.5), [0, 0, 2, 2, 4]);
        // Plain connected components would join them all.
        assert_eq!(clusters(5, &pairs, 0.0), [0, 0, 0, 0, 4]);
    }

    #[test]
    fn well_connected_groups_join() {
        // Three records of one person, each pair found.
        let pairs = [(0, 1, 0.9), (1, 2, 0.8), (0, 2, 0.7)];
        assert_eq!(clusters(3, &pairs, 0.5), [0, 0, 0]);
        // A chain of three with the ends unlinked: 1 of 2 possible links, still half.
        assert_eq!(clusters(3, &[(0, 1, 0.9), (1, 2, 0.8)], 0.5), [0, 0, 0]);
        assert_eq!(clusters(3, &[(0, 1, 0.9), (1, 2, 0.8)], 0.75), [0, 0, 2]);
        assert!(clusters(0, &[], 0.5).is_empty());
    }
}
