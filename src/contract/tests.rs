//! Every border of every table, with values computed by hand.

use jiff::civil::date;

use super::*;

fn tender() -> Contract {
    ContractSettings {
        invoice_value: 100_000.0,
        ..ContractSettings::default()
    }
    .contract()
    .expect("the tender's tables are valid")
}

/// The discount (hundredths of a percent) for `id` measured as `num / den`.
fn bp(c: &Contract, id: KpiId, num: u64, den: u64) -> u32 {
    let mut k = Kpis::default();
    let m = Some(Measured::new(num, den));
    match id {
        KpiId::Ns => k.ns = m,
        KpiId::Tab => k.tab = m,
        KpiId::Tma => k.tma = m,
        KpiId::Tme => k.tme = m,
        KpiId::Iar => k.iar = m,
        KpiId::Isa => k.isa = m,
        KpiId::Imq => k.imq = m,
    }
    let p = panel(c, date(2027, 6, 1), &k);
    p.rows
        .iter()
        .find(|r| r.kpi == id)
        .expect("every KPI has a row")
        .discount_bp
}

#[test]
fn ns_borders_including_the_89_to_90_gap() {
    let c = tender();
    // 100 × num / 100_000 calls.
    let cases = [
        (90_000, 0),   // 90.000 %: target met
        (100_000, 0),  // 100 %
        (89_999, 200), // 89.999 %: below target, in the gap the tender left: 2 %
        (89_000, 200), // 89 %
        (80_000, 200), // 80.000 %: still 2 %
        (79_999, 300), // 79.999 %: 3 %
        (70_000, 300), // 70 %: 3 %
        (69_999, 500), // 69.999 %: 5 %
        (0, 500),
    ];
    for (num, want) in cases {
        assert_eq!(bp(&c, KpiId::Ns, num, 100_000), want, "NS {num}/100000");
    }
    // A repeating fraction just under the border: 8 / 9 = 88.88… % → 2 %.
    assert_eq!(bp(&c, KpiId::Ns, 8, 9), 200);
    // 9 / 10 exactly 90 % (no float rounding can push it under).
    assert_eq!(bp(&c, KpiId::Ns, 9, 10), 0);
}

#[test]
fn tab_borders_including_the_overlaps() {
    let c = tender();
    let cases = [
        (0, 0),
        (7_000, 0),     // 7.000 %: "<= 7%" wins over "6,9% - 8,5%"
        (6_900, 0),     // 6.9 %: in both rows of the tender; no penalty
        (7_001, 100),   // 7.001 %: 1 %
        (8_400, 100),   // 8.4 %: in both "6,9-8,5" and "8,4-10": the milder, 1 %
        (8_500, 100),   // 8.5 %: 1 %
        (8_501, 200),   // 8.501 %: 2 %
        (10_000, 200),  // 10 %: 2 %
        (10_001, 300),  // 10.001 %: "> 10%" 3 %
        (100_000, 300), // everything abandoned
    ];
    for (num, want) in cases {
        assert_eq!(bp(&c, KpiId::Tab, num, 100_000), want, "TAB {num}/100000");
    }
}

#[test]
fn tma_borders_in_milliseconds() {
    let c = tender();
    // Total talk ms over answered calls: 481 s average exactly, then 1 ms more in total.
    assert_eq!(bp(&c, KpiId::Tma, 481_000 * 3, 3), 0);
    assert_eq!(bp(&c, KpiId::Tma, 481_000 * 3 + 1, 3), 100);
    assert_eq!(bp(&c, KpiId::Tma, 1_000, 1), 0);
    assert_eq!(bp(&c, KpiId::Tma, 10_000_000, 1), 100);
}

#[test]
fn iar_isa_imq_borders() {
    let c = tender();
    let iar = [
        (900, 0),
        (899, 100),
        (800, 100),
        (799, 200),
        (700, 200),
        (699, 300),
    ];
    for (num, want) in iar {
        assert_eq!(bp(&c, KpiId::Iar, num, 1000), want, "IAR {num}/1000");
    }
    let isa = [
        (800, 0),
        (799, 100),
        (700, 100),
        (699, 300),
        (600, 300),
        (599, 500),
    ];
    for (num, want) in isa {
        assert_eq!(bp(&c, KpiId::Isa, num, 1000), want, "ISA {num}/1000");
    }
    // IMQ: sum of call scores in hundredths of a point over the calls evaluated.
    // Two calls scoring 80.00 and 80.00 → 80 %; 80.00 and 79.99 → 79.995 % → 1 %.
    let imq = [
        (16_000, 0),
        (15_999, 100),
        (12_000, 100),
        (11_999, 300),
        (8_000, 300),
        (7_999, 500),
    ];
    for (num, want) in imq {
        assert_eq!(bp(&c, KpiId::Imq, num, 2), want, "IMQ {num}/2");
    }
}

#[test]
fn tme_is_shown_without_penalty_and_empty_kpis_show_a_dash() {
    let c = tender();
    let kpis = Kpis {
        tme: Some(Measured::new(1_000_000_000, 1)),
        ns: Some(Measured::new(0, 0)),
        ..Kpis::default()
    };
    let p = panel(&c, date(2027, 6, 1), &kpis);
    let tme = &p.rows[3];
    assert_eq!(tme.kpi, KpiId::Tme);
    assert_eq!(tme.value, "1000000,0 s");
    assert_eq!(tme.target, "—");
    assert_eq!((tme.met, tme.discount_bp), (None, 0));
    let ns = &p.rows[0];
    assert_eq!((ns.value.as_str(), ns.met, ns.discount_bp), ("—", None, 0));
    assert_eq!(p.total_discount_bp, 0);
    assert_eq!(p.rows.len(), 7);
}

#[test]
fn shown_values_never_look_inside_a_better_band() {
    let c = tender();
    let kpis = Kpis {
        ns: Some(Measured::new(899_999, 1_000_000)), // 89.9999 %
        tab: Some(Measured::new(70_001, 1_000_000)), // 7.0001 %
        tma: Some(Measured::new(481_001, 1)),        // 481.001 s
        imq: Some(Measured::new(7_999, 1)),          // 79.99 %
        ..Kpis::default()
    };
    let p = panel(&c, date(2027, 6, 1), &kpis);
    let shown: Vec<&str> = p.rows.iter().map(|r| r.value.as_str()).collect();
    assert_eq!(
        shown,
        ["89,99 %", "7,01 %", "481,1 s", "—", "—", "—", "79,99 %"]
    );
    let bands: Vec<Option<&str>> = p.rows.iter().map(|r| r.band.as_deref()).collect();
    assert_eq!(
        bands,
        [
            Some("≥ 80 % e < 90 %"),
            Some("> 7 % e ≤ 8,5 %"),
            Some("> 481 s"),
            None,
            None,
            None,
            Some("≥ 60 % e < 80 %"),
        ]
    );
    let targets: Vec<&str> = p.rows.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "≥ 90 %",
            "≤ 7 %",
            "≤ 481 s",
            "—",
            "≥ 90 %",
            "≥ 80 %",
            "≥ 80 %"
        ]
    );
}

#[test]
fn discounts_in_reais_add_up_and_round_half_up() {
    let c = tender(); // R$ 100.000,00
    let kpis = Kpis {
        ns: Some(Measured::new(75, 100)),     // 3 %
        tab: Some(Measured::new(11, 100)),    // 3 %
        tma: Some(Measured::new(500_000, 1)), // 1 %
        iar: Some(Measured::new(95, 100)),    // met
        isa: Some(Measured::new(50, 100)),    // 5 %
        imq: Some(Measured::new(9_000, 1)),   // met
        tme: None,
    };
    let p = panel(&c, date(2027, 6, 1), &kpis);
    assert_eq!(p.total_discount_bp, 1_200);
    assert_eq!(p.total_discount_cents, 1_200_000); // R$ 12.000,00
    assert_eq!(show_reais(p.total_discount_cents), "R$ 12.000,00");
    assert!(!p.adaptation);
    // R$ 12.345,67 × 2 % = 246,9134 → R$ 246,91; R$ 0,25 × 2 % = 0,5 centavo → 1.
    assert_eq!(discount_cents(1_234_567, 200), 24_691);
    assert_eq!(discount_cents(25, 200), 1);
    assert_eq!(discount_cents(24, 200), 0);
    assert_eq!(show_reais(123_456_789), "R$ 1.234.567,89");
    assert_eq!(show_reais(5), "R$ 0,05");
}

#[test]
fn adaptation_period_waives_but_shows_the_band() {
    let c = ContractSettings {
        invoice_value: 1_000.0,
        start_date: Some("2027-01-15".into()),
        ..ContractSettings::default()
    }
    .contract()
    .expect("valid");
    // 2027-01-15 + 90 days = 2027-04-15: January to April start before it.
    let bad_ns = Kpis {
        ns: Some(Measured::new(1, 2)),
        ..Kpis::default()
    };
    for m in 1..=4 {
        let p = panel(&c, date(2027, m, 1), &bad_ns);
        assert!(p.adaptation, "month {m}");
        assert_eq!((p.rows[0].discount_bp, p.rows[0].waived_bp), (0, 500));
        assert_eq!(p.rows[0].band.as_deref(), Some("< 70 %"));
        assert_eq!(p.total_discount_cents, 0);
    }
    let may = panel(&c, date(2027, 5, 1), &bad_ns);
    assert!(!may.adaptation);
    assert_eq!((may.rows[0].discount_bp, may.rows[0].waived_bp), (500, 0));
    assert_eq!(may.total_discount_cents, 5_000); // R$ 50,00
    // A start on the 1st: 2027-01-01 + 90 days = 2027-04-01, so April is judged.
    let c = ContractSettings {
        start_date: Some("2027-01-01".into()),
        ..ContractSettings::default()
    }
    .contract()
    .expect("valid");
    assert!(c.in_adaptation(date(2027, 3, 1)));
    assert!(!c.in_adaptation(date(2027, 4, 1)));
}

#[test]
fn config_overrides_replace_a_table_and_bad_ones_are_refused() {
    let s: ContractSettings = toml::from_str(
        r#"
        invoice_value = 250000.5
        [ns]
        target = 85
        bands = [{ limit = 75, discount = 1.5 }, { discount = 4 }]
        "#,
    )
    .expect("parses");
    let c = s.contract().expect("valid");
    assert_eq!(c.invoice_cents, 25_000_050);
    assert_eq!(bp(&c, KpiId::Ns, 85, 100), 0);
    assert_eq!(bp(&c, KpiId::Ns, 84, 100), 150);
    assert_eq!(bp(&c, KpiId::Ns, 75, 100), 150);
    assert_eq!(bp(&c, KpiId::Ns, 74, 100), 400);
    // Other KPIs keep the tender's table.
    assert_eq!(bp(&c, KpiId::Tab, 71, 1000), 100);

    let refused = [
        (
            "[ns]\ntarget = 90\nbands = [{ limit = 80, discount = 2 }]",
            "last band",
        ),
        (
            "[ns]\ntarget = 90\nbands = [{ limit = 95, discount = 2 }, { discount = 3 }]",
            "away from the target",
        ),
        (
            "[tab]\ntarget = 7\nbands = [{ limit = 5, discount = 2 }, { discount = 3 }]",
            "away from the target",
        ),
        ("[tma]\ntarget = 481\nbands = [{ discount = 101 }]", "100 %"),
        ("invoice_value = -1", "0 or above"),
        ("start_date = \"2027-13-01\"", "not a date"),
    ];
    for (toml_text, why) in refused {
        let s: ContractSettings = toml::from_str(toml_text).expect("parses");
        let e = s.contract().expect_err(toml_text).to_string();
        assert!(e.contains(why), "{toml_text}: {e}");
    }
    assert!(toml::from_str::<ContractSettings>("[tme]\ntarget = 1\nbands = []").is_err());
}
