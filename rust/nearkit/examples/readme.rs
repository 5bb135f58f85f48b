// The README's example, unchanged (tests/readme_example.rs keeps the two equal):
// `cargo run -p nearkit --example readme`.
use nearkit::{Index, Kind, Metric};

fn main() -> Result<(), nearkit::Error> {
    let dim = 4;
    let data: Vec<f32> = vec![0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0];
    let index = Index::builder(Kind::by_name("flat")?, Metric::L2, dim)
        .threads(0) // every core for batches
        .seed(42)
        .build()?;
    index.add(&data)?;
    index.build()?;

    let result = index.search(&[0.9f32, 0.0, 0.0, 0.0], 2)?;
    assert_eq!(result.query_ids(0), &[1, 0]);

    let path = std::env::temp_dir().join("readme-vectors.nkx");
    index.save(&path)?;
    let again = Index::load(&path)?;
    assert_eq!(again.len(), 3);
    std::fs::remove_file(&path).ok();
    Ok(())
}
