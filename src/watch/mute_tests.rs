use super::*;

const MIN: Duration = Duration::from_secs(60);

fn seen(own_slot: bool, until: Option<u64>) -> Seen {
    Seen {
        own_slot,
        reported_until: until.map(Duration::from_secs),
    }
}

#[test]
fn a_directory_is_muted_only_for_a_reported_uniform_group_or_when_ignored() {
    let now = Duration::from_secs(100);
    // (excluded, seen, uniform) → mute?
    let cases: &[(bool, Option<Seen>, bool, bool)] = &[
        // watch.ignore, the run directory, outside the root: always.
        (true, None, false, true),
        // No group (dropped, held): keep listening.
        (false, None, true, false),
        // Never warned (held back by the budget): keep listening.
        (false, Some(seen(true, None)), true, false),
        // Reported, reminder later: mute.
        (false, Some(seen(true, Some(700))), true, true),
        // Reminder due: listen (the next write is the reminder).
        (false, Some(seen(true, Some(100))), true, false),
        (false, Some(seen(true, Some(50))), true, false),
        // Folded into its area by fairness: listen.
        (false, Some(seen(false, Some(700))), true, false),
        // Something below the directory could be another group: listen.
        (false, Some(seen(true, Some(700))), false, false),
    ];
    for (i, (excluded, s, uniform, want)) in cases.iter().enumerate() {
        assert_eq!(mute_dir(*excluded, *s, now, || *uniform), *want, "case {i}");
    }
}

#[test]
fn uniformity_is_not_asked_when_the_answer_is_already_no() {
    let now = Duration::from_secs(1);
    let asked = std::cell::Cell::new(false);
    let ask = || {
        asked.set(true);
        true
    };
    assert!(!mute_dir(false, Some(seen(true, None)), now, ask));
    assert!(!asked.get());
}

#[test]
fn refreshes_take_at_most_two_percent_of_the_time() {
    let s = Duration::from_secs;
    let ms = Duration::from_millis;
    // (last, cost, now, every) → due?
    let cases = [
        (None, ms(0), s(0), s(3), true),
        (Some(s(10)), ms(1), s(12), s(3), false),
        // Never within 5 s of the last one.
        (Some(s(10)), ms(1), s(13), s(3), false),
        (Some(s(10)), ms(1), s(15), s(3), true),
        (Some(s(10)), ms(1), s(21), s(11), true),
        (Some(s(10)), ms(1), s(20), s(11), false),
        // A 200 ms walk: not again within 10 s.
        (Some(s(10)), ms(200), s(19), s(3), false),
        (Some(s(10)), ms(200), s(20), s(3), true),
    ];
    for (i, (last, cost, now, every, want)) in cases.into_iter().enumerate() {
        assert_eq!(refresh_due(last, cost, now, every), want, "case {i}");
    }
}

#[test]
fn groups_are_unmuted_when_their_reminder_is_due() {
    let mut m = HashMap::new();
    m.insert(PathBuf::from("/b"), 10 * MIN);
    m.insert(PathBuf::from("/a"), 5 * MIN);
    m.insert(PathBuf::from("/c"), 20 * MIN);
    assert!(due(&m, 4 * MIN).is_empty());
    assert_eq!(
        due(&m, 10 * MIN),
        [PathBuf::from("/a"), PathBuf::from("/b")]
    );
}

#[test]
fn only_a_directory_written_many_times_is_hot() {
    // (events since the group was reported) → muted?
    for (events, want) in [
        (0, false),
        (1, false),
        (HOT - 1, false),
        (HOT, true),
        (1000, true),
    ] {
        assert_eq!(hot(events), want, "{events} events");
    }
}
