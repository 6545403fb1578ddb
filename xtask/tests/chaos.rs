//! The short chaos run of CI: a four-cell mini grid killed three times (its whole process
//! group) and once one cell process alone; `cargo xtask chaos` fails unless nothing was lost,
//! rewritten or unreadable, every cell finished with no failure left, and every cell's numbers
//! equal an uninterrupted run's. (The note of #16 reports the default 20-kill run.)

mod common;

#[test]
fn a_killed_grid_loses_nothing_and_ends_as_an_uninterrupted_one() {
    let dir = common::results_with_mini_models("chaos test");
    let out = common::run(&["chaos", "--kills", "3", "--methods", "lora,fft", "--seeds", "0,1", "--max-delay-s", "1.5", "--dir", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.contains("0 lost, 0 rewritten, 0 unreadable; 4/4 cells finished, 0 failures left; 4 cells identical"), "{stdout}");
    assert!(stdout.contains("killed the cell process") && stdout.contains("SIGKILL"), "a child was killed alone and recorded: {stdout}");
}
