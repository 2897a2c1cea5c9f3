//! Deterministic synthetic data for the benchmark: passages that read like remembered facts about people, and
//! search queries over the same vocabulary. A seeded SplitMix64 generator makes every run see the same text; no
//! datasets are involved.

/// SplitMix64: tiny, fast and the same on every platform, which is all a workload generator needs.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const NAMES: &[&str] = &[
    "Alice", "Bob", "Carmen", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kiara", "Liam", "Mei",
    "Noah", "Olga", "Priya", "Quentin", "Rosa", "Sven", "Tariq",
];
const ACTIVITIES: &[&str] = &[
    "went hiking near",
    "moved to",
    "started a new job in",
    "visited",
    "took cooking classes in",
    "adopted a rescue dog in",
    "ran a marathon in",
    "bought a used bicycle in",
    "painted a mural in",
    "learned to play the guitar in",
    "opened a small bakery in",
    "volunteered at a library in",
];
const PLACES: &[&str] = &[
    "Lisbon",
    "Kyoto",
    "Nairobi",
    "Denver",
    "Oslo",
    "Lima",
    "Hanoi",
    "Toronto",
    "Seville",
    "Melbourne",
    "Cairo",
    "Dublin",
    "Krakow",
    "Montreal",
    "Valparaiso",
    "Tbilisi",
];
const TIMES: &[&str] = &[
    "last summer",
    "in March",
    "two weeks ago",
    "over the holidays",
    "after graduating",
    "during the pandemic",
    "on a rainy weekend",
    "last year",
    "in the spring",
    "yesterday",
];
const EXTRAS: &[&str] = &[
    "and said it changed everything",
    "with an old friend from school",
    "to get away from work stress",
    "and wants to go back soon",
    "but found it exhausting",
    "and posted photos of the food",
    "and kept a detailed journal",
    "despite a sprained ankle",
    "with their younger sister",
    "on a tight budget",
];
const TOPICS: &[&str] = &[
    "photography",
    "budget travel",
    "sourdough baking",
    "jazz records",
    "mountain biking",
    "climate policy",
    "chess openings",
    "board games",
    "vegetable gardening",
    "machine learning",
    "marathon training",
    "birdwatching",
];

/// One passage: one to three sentences of facts, sometimes with the topics discussed.
pub fn passage(rng: &mut Rng) -> String {
    let sentences = 1 + rng.below(3);
    let mut text = Vec::with_capacity(sentences + 1);
    for _ in 0..sentences {
        text.push(format!(
            "{} {} {} {} {}.",
            rng.pick(NAMES),
            rng.pick(ACTIVITIES),
            rng.pick(PLACES),
            rng.pick(TIMES),
            rng.pick(EXTRAS)
        ));
    }
    if rng.below(2) == 0 {
        text.push(format!("They talked about {} and {}.", rng.pick(TOPICS), rng.pick(TOPICS)));
    }
    text.join(" ")
}

/// A search query of the kind a person or a model would type about such facts.
pub fn query(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => format!("{} {}", rng.pick(NAMES), rng.pick(PLACES)),
        1 => rng.pick(TOPICS).to_owned(),
        2 => format!("who moved to {}", rng.pick(PLACES)),
        3 => format!("{} {}", rng.pick(NAMES), rng.pick(TOPICS)),
        _ => format!("marathon {}", rng.pick(TIMES)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_text() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(passage(&mut a), passage(&mut b));
        assert_eq!(query(&mut a), query(&mut b));
        assert_ne!(passage(&mut Rng::new(1)), passage(&mut Rng::new(2)));
    }
}
