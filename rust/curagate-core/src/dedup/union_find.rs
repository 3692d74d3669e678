//! Union-find over dense u32 ids; the smaller id always becomes the root,
//! so components and their roots do not depend on the order of unions.

#[derive(Debug, Default, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    pub fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.parent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    pub fn grow(&mut self, n: usize) {
        let start = self.parent.len() as u32;
        self.parent.extend(start..n as u32);
    }

    pub fn find(&mut self, x: u32) -> u32 {
        let mut root = x;
        while self.parent[root as usize] != root {
            root = self.parent[root as usize];
        }
        // Path compression.
        let mut cur = x;
        while self.parent[cur as usize] != root {
            let next = self.parent[cur as usize];
            self.parent[cur as usize] = root;
            cur = next;
        }
        root
    }

    /// The root of `x` without path compression: for readers in parallel.
    pub fn root(&self, x: u32) -> u32 {
        let mut root = x;
        while self.parent[root as usize] != root {
            root = self.parent[root as usize];
        }
        root
    }

    /// Join the sets of `a` and `b`; returns false when already joined.
    pub fn union(&mut self, a: u32, b: u32) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[hi as usize] = lo;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_the_smallest_member_whatever_the_order() {
        let mut a = UnionFind::new(5);
        a.union(4, 3);
        a.union(3, 1);
        let mut b = UnionFind::new(5);
        b.union(1, 3);
        b.union(4, 1);
        for x in 0..5 {
            assert_eq!(a.find(x), b.find(x));
        }
        assert_eq!(a.find(4), 1);
        assert_eq!(a.find(0), 0);
    }

    #[test]
    fn union_reports_whether_it_joined() {
        let mut uf = UnionFind::new(3);
        assert!(uf.union(0, 2));
        assert!(!uf.union(2, 0));
    }
}
