//! The demo shop's rows: customers, products and orders, made from a fixed seed so that the
//! same `--rows` gives the same database on every machine.
//!
//! The values are chosen to exercise what breaks exports in real data: names with commas,
//! quotes, accents, apostrophes and emoji; text with line breaks and HTML; nullable
//! columns; money as floating point; timestamps; a JSON column.

use std::fmt::Write;

/// The seed of every demo database.
const SEED: u64 = 0x005e_ed0f_5b0b;

/// The first order's time: 2023-01-01 00:00:00 UTC, in seconds since 1970.
const FIRST_ORDER: i64 = 1_672_531_200;
/// Orders spread over three years.
const ORDER_SPAN: i64 = 3 * 365 * 86_400;

/// How many customers and products go with `orders` orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub orders: u64,
    pub customers: u64,
    pub products: u64,
}

impl Size {
    /// One customer for ten orders, one product for a hundred (at most a thousand).
    pub fn for_orders(orders: u64) -> Self {
        Self {
            orders,
            customers: (orders / 10).max(1),
            products: (orders / 100).clamp(1, 1000),
        }
    }
}

/// A small, fast generator (SplitMix64): the demo needs repeatable variety, not secrecy.
#[derive(Debug, Clone)]
pub struct Dice(u64);

impl Dice {
    /// A generator for one table, so that changing one table's rows leaves the others'.
    pub fn new(table: u64) -> Self {
        Self(SEED ^ table.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// `true` with a chance of `percent` in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const FIRST_NAMES: &[&str] = &[
    "Anna", "José", "Zoë", "Łukasz", "Siobhán", "Mohammed", "Chloé", "Björn", "Aiko", "Olu",
    "Priya", "Søren", "Mateo", "Ngọc", "Kai", "Émile", "Fatima", "Jürgen", "Liam", "Mei",
];
const LAST_NAMES: &[&str] = &[
    "O'Brien",
    "Müller",
    "García",
    "Nguyễn",
    "Smith, Jr.",
    "Kowalski",
    "Dubois",
    "Andersson",
    "Tanaka",
    "Okafor",
    "D'Angelo",
    "Øster",
    "\"Ace\" Rivera",
    "Li 李",
    "Brown 🦀",
    "van der Berg",
];
const PLACES: &[(&str, &str)] = &[
    ("Germany", "München"),
    ("France", "Saint-Étienne"),
    ("Japan", "東京"),
    ("United States", "New York, NY"),
    ("Brazil", "São Paulo"),
    ("Iceland", "Reykjavík"),
    ("Poland", "Łódź"),
    ("Ireland", "Dún Laoghaire"),
    ("Canada", "Montréal"),
    ("United Kingdom", "Stoke-on-Trent"),
    ("Nigeria", "Lagos"),
    ("India", "Bengaluru"),
];
const ADJECTIVES: &[&str] = &[
    "Classic",
    "Compact",
    "Deluxe",
    "Eco",
    "Heavy-duty",
    "Mini",
    "Smart",
    "Vintage",
    "Crème",
    "Ultra",
];
const PRODUCTS: &[(&str, &str)] = &[
    ("27\" monitor", "Electronics"),
    ("USB-C cable, 2 m", "Electronics"),
    ("Espresso cup ☕", "Kitchen"),
    ("Chef's knife", "Kitchen"),
    ("Notebook (A5, dotted)", "Stationery"),
    ("Fountain pen", "Stationery"),
    ("Rain jacket", "Clothing"),
    ("Wool socks, 3 pairs", "Clothing"),
    ("Board game \"Ports & Ferries\"", "Toys"),
    ("Puzzle 1000 pcs 🧩", "Toys"),
    ("Garden hose 25 m", "Garden"),
    ("Seed mix: tomato; basil", "Garden"),
];
const STATUSES: &[(&str, u64)] = &[
    ("delivered", 75),
    ("shipped", 10),
    ("paid", 7),
    ("pending", 3),
    ("refunded", 3),
    ("cancelled", 2),
];
const CHANNELS: &[&str] = &["web", "app", "phone", "store"];
const COUPONS: &[&str] = &["SPRING10", "WELCOME", "VIP-2024", "été"];
const NOTES: &[&str] = &[
    "Please leave at the door.\nRing twice: the bell is broken.",
    "Deliver to \"Back office\", 2nd floor",
    "Gift 🎁 — no invoice in the box",
    "<b>Fragile</b> & heavy",
    "Call before delivery;\r\nnot before 9:00",
    "",
];

/// A customer row.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub country: &'static str,
    pub city: &'static str,
    pub signed_up_at: String,
}

/// A product row.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub category: &'static str,
    pub price: f64,
    pub weight_kg: Option<f64>,
}

/// An order row, written into buffers that are reused from row to row (a million orders
/// take a few seconds, so no row allocates).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub product_id: i64,
    pub quantity: i64,
    pub amount: f64,
    pub status: &'static str,
    pub created_at: String,
    pub shipped_at: Option<String>,
    pub details: String,
    pub note: Option<&'static str>,
}

/// Customer `id` (from 1).
pub fn customer(dice: &mut Dice, id: i64) -> Customer {
    let first = dice.pick(FIRST_NAMES);
    let last = dice.pick(LAST_NAMES);
    let (country, city) = *dice.pick(PLACES);
    let email = (!dice.chance(5)).then(|| format!("customer{id}@example.com"));
    let signed_up = FIRST_ORDER - 86_400 * 365 + dice.below(86_400 * 365 * 2) as i64;
    let mut signed_up_at = String::new();
    write_timestamp(signed_up, &mut signed_up_at);
    Customer {
        id,
        name: format!("{first} {last}"),
        email,
        country,
        city,
        signed_up_at,
    }
}

/// Product `id` (from 1); its price is a whole number of cents.
pub fn product(dice: &mut Dice, id: i64) -> Product {
    let (name, category) = *dice.pick(PRODUCTS);
    let adjective = dice.pick(ADJECTIVES);
    let cents = 199 + dice.below(50_000);
    let weight_kg = (!dice.chance(10)).then(|| (50 + dice.below(20_000)) as f64 / 1000.0);
    Product {
        id,
        name: format!("{adjective} {name}"),
        category,
        price: cents as f64 / 100.0,
        weight_kg,
    }
}

/// Fills `order` with order `id` of `size.orders` (from 1): `created_at` rises with `id`
/// (give or take ten minutes), as in a real shop.
pub fn order(dice: &mut Dice, id: i64, size: Size, prices: &[f64], order: &mut Order) {
    let customer_id = 1 + dice.below(size.customers) as i64;
    let product_id = 1 + dice.below(prices.len() as u64) as i64;
    let quantity = [1, 1, 1, 1, 2, 2, 3, 5][dice.below(8) as usize];
    let price_cents = (prices[product_id as usize - 1] * 100.0).round() as i64;
    let status = weighted(dice, STATUSES);
    // In i128: a billion orders times three years of seconds passes i64.
    let spread = i128::from(id - 1) * i128::from(ORDER_SPAN) / i128::from(size.orders.max(1));
    let created = FIRST_ORDER + spread as i64 + dice.below(600) as i64;
    order.id = id;
    order.customer_id = customer_id;
    order.product_id = product_id;
    order.quantity = quantity;
    order.amount = (price_cents * quantity) as f64 / 100.0;
    order.status = status;
    order.created_at.clear();
    write_timestamp(created, &mut order.created_at);
    order.shipped_at = match status {
        "shipped" | "delivered" | "refunded" => {
            let mut shipped = order.shipped_at.take().unwrap_or_default();
            shipped.clear();
            write_timestamp(created + 3600 + dice.below(5 * 86_400) as i64, &mut shipped);
            Some(shipped)
        }
        _ => None,
    };
    order.details.clear();
    let channel = dice.pick(CHANNELS);
    let gift = dice.chance(8);
    let _ = write!(
        order.details,
        r#"{{"channel":"{channel}","gift":{gift},"coupon":"#
    );
    match dice.chance(15) {
        true => {
            let _ = write!(order.details, r#""{}"}}"#, dice.pick(COUPONS));
        }
        false => order.details.push_str("null}"),
    }
    order.note = dice.chance(3).then(|| *dice.pick(NOTES));
}

fn weighted(dice: &mut Dice, choices: &[(&'static str, u64)]) -> &'static str {
    let mut roll = dice.below(choices.iter().map(|(_, weight)| weight).sum());
    for (choice, weight) in choices {
        if roll < *weight {
            return choice;
        }
        roll -= weight;
    }
    choices[0].0
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of `seconds` since 1970, the form SQLite's own `datetime()`
/// writes, so the demo's queries can compare timestamps as text.
fn write_timestamp(seconds: i64, out: &mut String) {
    let (days, time) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        time / 3600,
        time / 60 % 60,
        time % 60
    );
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_times() {
        let text = |seconds| {
            let mut out = String::new();
            write_timestamp(seconds, &mut out);
            out
        };
        assert_eq!(text(0), "1970-01-01 00:00:00");
        assert_eq!(text(FIRST_ORDER), "2023-01-01 00:00:00");
        assert_eq!(text(951_782_400 + 86_399), "2000-02-29 23:59:59");
        assert_eq!(text(4_107_542_400), "2100-03-01 00:00:00");
        assert_eq!(text(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn the_same_seed_gives_the_same_rows() {
        let size = Size::for_orders(1000);
        let rows = || {
            let mut dice = Dice::new(3);
            let mut row = Order::default();
            (1..=50)
                .map(|id| {
                    order(&mut dice, id, size, &[1.99, 20.0, 0.1], &mut row);
                    row.clone()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(rows(), rows());
    }

    #[test]
    fn amounts_are_whole_cents_and_details_are_json() {
        let size = Size::for_orders(10_000);
        let mut dice = Dice::new(3);
        let mut row = Order::default();
        for id in 1..=10_000 {
            order(&mut dice, id, size, &[12.99, 0.07, 499.5], &mut row);
            // Written as float8 (shortest round trip): never more than two decimals.
            let text = row.amount.to_string();
            let decimals = text
                .split_once('.')
                .map_or(0, |(_, fraction)| fraction.len());
            assert!(decimals <= 2, "{text}");
            let details: serde_json::Value = serde_json::from_str(&row.details).unwrap();
            assert!(details["channel"].is_string());
        }
    }

    #[test]
    fn sizes_follow_the_orders() {
        assert_eq!(
            Size::for_orders(1_000_000),
            Size {
                orders: 1_000_000,
                customers: 100_000,
                products: 1000
            }
        );
        assert_eq!(Size::for_orders(1).customers, 1);
        assert_eq!(Size::for_orders(1).products, 1);
    }
}
