//! Random trees through the real binary: after a real run the kept candidates satisfy every
//! limit, and nothing that was not a candidate (hidden, excluded, symlink) is touched.

use super::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Spec {
    folder: u8,
    kind: u8,
    age_hours: i64,
    size: usize,
}

fn specs() -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec(
        (0u8..4, 0u8..10, -48i64..2_000, 0usize..3_000).prop_map(|(folder, kind, age_hours, size)| Spec {
            folder,
            kind,
            age_hours,
            size,
        }),
        1..25,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn kept_candidates_satisfy_every_limit_and_nothing_else_is_touched(
        specs in specs(),
        days in prop::option::of(prop::sample::select(vec!["0", "0.5", "3", "30"])),
        keep in prop::option::of(0u64..10),
        max_size in prop::option::of(0u64..20_000),
    ) {
        let env = TestEnv::new();
        env.mkdir("artifacts");
        env.write("outside", "precious");
        let mut protected = Vec::new();
        let mut candidates = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            let folder = format!("d{}", spec.folder);
            // kind 0: hidden file, 1: excluded file, 2: symlink, else a candidate.
            let name = match spec.kind {
                0 => format!("{folder}/.hidden{index}"),
                1 => format!("{folder}/pinned{index}.keep"),
                _ => format!("{folder}/f{index}"),
            };
            let relative = format!("artifacts/{name}");
            if spec.kind == 2 {
                env.mkdir(format!("artifacts/{folder}"));
                symlink(env.path("outside"), env.path(&relative)).unwrap();
            } else {
                env.write(&relative, vec![b'x'; spec.size]);
            }
            env.set_mtime(&relative, utc(NOW) - Duration::hours(spec.age_hours));
            if spec.kind <= 2 { protected.push(relative) } else { candidates.push((relative, spec.clone())) }
        }
        let mut args = vec!["--allow-delete-all".to_string(), "--exclude".into(), "*.keep".into(), "--format".into(), "json".into()];
        if let Some(days) = days { args.extend(["--days".into(), days.to_string()]); }
        if let Some(keep) = keep { args.extend(["--keep".into(), keep.to_string()]); }
        if let Some(max_size) = max_size { args.extend(["--max-size".into(), max_size.to_string()]); }
        if days.is_none() && keep.is_none() && max_size.is_none() { args.extend(["--keep".into(), "3".into()]); }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Future-dated files make warnings (checked against the document's `warnings` below).
        let run = rotate(&env, &args).code(0).stdout(Expect::Anything).stderr(Expect::Anything).run();
        let document: Document = run.json_as();
        prop_assert_eq!(&run.stderr, &document.warning_lines());
        prop_assert_eq!(document.marker.as_str(), "ROTATE=DONE");
        prop_assert!(document.files.iter().all(|row| row.result == FileResult::Deleted), "{:?}", document.files);

        for path in &protected {
            prop_assert!(env.exists(path), "{} was touched", path);
        }
        prop_assert_eq!(env.read("outside"), "precious");
        let kept: Vec<&Spec> = candidates.iter().filter(|(path, _)| env.exists(path)).map(|(_, spec)| spec).collect();
        let future: Vec<&&Spec> = kept.iter().filter(|spec| spec.age_hours < 0).collect();
        if let Some(days) = days {
            let days: f64 = days.parse().unwrap();
            prop_assert!(kept.iter().all(|spec| (spec.age_hours as f64) <= days * 24.0));
        }
        if let Some(keep) = keep {
            prop_assert!(kept.len() as u64 <= keep.max(future.len() as u64));
        }
        if let Some(max_size) = max_size {
            let total: u64 = kept.iter().map(|spec| spec.size as u64).sum();
            let future_total: u64 = future.iter().map(|spec| spec.size as u64).sum();
            prop_assert!(total <= max_size.max(future_total));
        }
        // The report names exactly the files that are gone.
        let mut reported: Vec<String> = document.paths().iter().map(|path| format!("artifacts/{path}")).collect();
        reported.sort();
        let mut gone: Vec<String> = candidates.iter().filter(|(path, _)| !env.exists(path)).map(|(path, _)| path.clone()).collect();
        gone.sort();
        prop_assert_eq!(reported, gone);
    }
}
