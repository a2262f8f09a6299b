//! IVR interpreter throughput: inputs (steps) per second through the shipped flows.
//!
//! Each iteration runs whole simulated calls (`ivr::sim`, prompts at a fixed duration, the
//! HTTP fixture answering in memory): a caller who checks a process status by CPF and then
//! asks for an operator, one who browses three menus, one who stays silent until the menu
//! gives up. Throughput counts the inputs fed to the interpreter (keys, prompt ends,
//! timeouts, HTTP answers), so the figure is interpreter steps per second, simulator
//! bookkeeping included.
//!
//! `cargo bench --bench ivr`

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use atende::ivr::sim::{self, HttpFixture};
use atende::ivr::{CallInfo, FlowSet, Interpreter};

const SCRIPTS: [&str; 3] = ["5,52998224725,1,9,0", "1,9,2,9,3,1,9,0", ""];

fn calls(set: &Arc<FlowSet>, fixture: &HttpFixture, wall: jiff::Timestamp) -> u64 {
    let mut steps = 0;
    for script in SCRIPTS {
        let presses: Vec<String> = script.split(',').map(str::to_owned).collect();
        let report = sim::run(
            Interpreter::new(set.clone()),
            CallInfo {
                ani: "11987654321".into(),
                did: "08000000000".into(),
                protocol: "2026112400042".into(),
                wall,
            },
            &presses,
            fixture,
            &mut |_| Duration::from_secs(2),
        );
        steps += report.steps;
        black_box(report.outcome);
    }
    steps
}

fn shipped_flow(c: &mut Criterion) {
    let set =
        Arc::new(FlowSet::load_dir(Path::new("ivr-flows"), None).expect("shipped flows are valid"));
    let fixture =
        HttpFixture::load(Path::new("ivr-flows/fixtures/consulta-processo.yaml")).expect("fixture");
    // Tuesday 09:30 in São Paulo: business hours, every branch open.
    let wall: jiff::Timestamp = "2026-11-24T12:30:00Z".parse().expect("timestamp");
    let steps = calls(&set, &fixture, wall);
    let mut g = c.benchmark_group("ivr");
    g.throughput(Throughput::Elements(steps));
    g.bench_function("shipped_flow_steps", |b| {
        b.iter(|| calls(&set, &fixture, wall))
    });
    g.finish();
}

criterion_group!(benches, shipped_flow);
criterion_main!(benches);
