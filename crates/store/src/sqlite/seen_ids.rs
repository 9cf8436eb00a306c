//! Which event ids the store may already hold: a growing Bloom filter over every id written.
//!
//! Idempotency by event id needs, for an `Any` append, "is this id already in the stream?".
//! A global index on event ids answers that, but every append then rewrites a random index
//! page (ids are random), which was the largest share of what a commit writes. The filter
//! answers "certainly not" for nearly every new id without touching the file; only a "maybe"
//! (a real retry, or a rare false positive) searches the stream's events. It lives in the
//! writer's memory (4 bytes per event) and is rebuilt from the file at open.
//!
//! A false positive costs a search of the whole stream (milliseconds for a stream of tens
//! of thousands of events, all of it inside the writer's batch), so the filter is sized for
//! about one in 170,000 rather than one in 1,700 (the e2e profile spent 8% of the writer's
//! time in those searches). It is *blocked*: all of an id's bits are in one 64-byte block,
//! so an insert or a lookup touches one cache line however large the filter grows.

/// Bits per id and bits set per id (one block of 512 bits holds 16 ids on average): about
/// one false positive in 170,000 lookups at full load.
const BITS_PER_ID: usize = 32;
const PROBES: u64 = 12;
/// Ids the first filter is sized for; each next one holds twice as many.
const FIRST_CAPACITY: usize = 1 << 16;

/// A block: 512 bits, one cache line.
type Block = [u64; 8];

/// A scalable Bloom filter: when one filter is full, a twice larger one takes new ids, and
/// lookups ask them all.
pub(crate) struct SeenIds {
    filters: Vec<Filter>,
}

struct Filter {
    blocks: Vec<Block>,
    /// `blocks.len() - 1`; the block count is a power of two.
    mask: u64,
    count: usize,
    capacity: usize,
}

impl Filter {
    fn new(capacity: usize) -> Self {
        let block_count = (capacity * BITS_PER_ID / 512).next_power_of_two().max(1);
        Filter { blocks: vec![[0; 8]; block_count], mask: block_count as u64 - 1, count: 0, capacity }
    }

    fn insert(&mut self, key: &Key) {
        let block = &mut self.blocks[(key.block & self.mask) as usize];
        for (word, bits) in block.iter_mut().zip(key.bits) {
            *word |= bits;
        }
        self.count += 1;
    }

    fn may_contain(&self, key: &Key) -> bool {
        let block = &self.blocks[(key.block & self.mask) as usize];
        block.iter().zip(key.bits).all(|(word, bits)| word & bits == bits)
    }
}

/// An id's place in every filter, hashed once: the block (masked to each filter's size) and
/// the bits it sets there.
struct Key {
    block: u64,
    bits: Block,
}

impl Key {
    /// 9 bits of hash per bit set (an arithmetic sequence of bits would make ids with the
    /// same step overlap): seven slices of one hash, then of a second.
    fn of(id: uuid::Uuid) -> Key {
        let (block, h2) = hashes(id.as_u128());
        let more = mix(h2 ^ block);
        let mut bits = [0; 8];
        for i in 0..PROBES {
            let (word, shift) = if i < 7 { (h2, i * 9) } else { (more, (i - 7) * 9) };
            let bit = (word >> shift) & 511;
            bits[(bit / 64) as usize] |= 1u64 << (bit % 64);
        }
        Key { block, bits }
    }
}

/// Two independent 64-bit hashes of an id; ids need not be random (v5 and v7 ids are not),
/// so both halves are mixed.
fn hashes(id: u128) -> (u64, u64) {
    let (high, low) = ((id >> 64) as u64, id as u64);
    (mix(high ^ mix(low)), mix(low ^ high.rotate_left(29)))
}

/// SplitMix64's finaliser.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl SeenIds {
    /// An empty filter sized for about `expected` ids before it first grows.
    pub(crate) fn with_capacity(expected: usize) -> Self {
        SeenIds { filters: vec![Filter::new(expected.max(FIRST_CAPACITY))] }
    }

    pub(crate) fn insert(&mut self, id: uuid::Uuid) {
        let last = self.filters.last_mut().expect("at least one filter");
        if last.count >= last.capacity {
            let capacity = last.capacity * 2;
            self.filters.push(Filter::new(capacity));
        }
        self.filters.last_mut().expect("at least one filter").insert(&Key::of(id));
    }

    /// False means the id was certainly never inserted.
    pub(crate) fn may_contain(&self, id: uuid::Uuid) -> bool {
        let key = Key::of(id);
        self.filters.iter().any(|f| f.may_contain(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn inserted_ids_are_always_found_across_growth() {
        let mut seen = SeenIds::with_capacity(0);
        let ids: Vec<Uuid> = (0..200_000).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            seen.insert(*id);
        }
        assert!(seen.filters.len() > 1, "the filter grew");
        assert!(ids.iter().all(|id| seen.may_contain(*id)), "no false negative");
    }

    #[test]
    fn unknown_ids_are_rarely_maybe() {
        let mut seen = SeenIds::with_capacity(0);
        for _ in 0..100_000 {
            seen.insert(Uuid::new_v4());
        }
        // About 6 expected (one in 170,000 at full load); the former 16-bit filter had ~570.
        let false_positives = (0..1_000_000).filter(|_| seen.may_contain(Uuid::new_v4())).count();
        assert!(false_positives < 40, "{false_positives} false positives in 1000000");
    }

    #[test]
    fn sequential_v7_style_ids_spread_too() {
        let mut seen = SeenIds::with_capacity(0);
        for n in 0..50_000u128 {
            seen.insert(Uuid::from_u128(n));
        }
        let false_positives = (50_000..1_050_000u128).filter(|n| seen.may_contain(Uuid::from_u128(*n))).count();
        assert!(false_positives < 40, "{false_positives} false positives in 1000000");
    }
}
