// `sqlx::migrate!` embeds the migrations when the crate compiles, and cargo does not
// know it read them: without this, a new migration is silently left out until some
// source file changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
