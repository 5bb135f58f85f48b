//! `half::f16` input (the `half` feature): widened by the library, exactly, so a float index given
//! halves answers as given the same values as f32; refused where the library refuses f32.
#![cfg(feature = "half")]

use half::f16;
use nearkit::{ErrorKind, Index, Kind, Metric, VectorType};

fn values(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7919) % 33) as f32 * 0.125 - 2.0).collect()
}

#[test]
fn halves_answer_as_their_f32_values() {
    let dim = 8;
    let full = values(200 * dim);
    let halves: Vec<f16> = full.iter().map(|&v| f16::from_f32(v)).collect();
    for metric in [Metric::L2, Metric::COSINE, Metric::IP] {
        let a = Index::new(Kind::FLAT, metric, dim).unwrap();
        let b = Index::new(Kind::FLAT, metric, dim).unwrap();
        a.add(&halves).unwrap();
        b.add(&full).unwrap();
        assert_eq!(a.vector_type(), VectorType::FLOAT32);
        let ra = a.search(&halves[3 * dim..8 * dim], 4).unwrap();
        let rb = b.search(&full[3 * dim..8 * dim], 4).unwrap();
        assert_eq!(ra.ids(), rb.ids());
        assert_eq!(ra.distances(), rb.distances());
    }
}

#[test]
fn bad_halves_are_refused() {
    let index = Index::new(Kind::FLAT, Metric::L2, 4).unwrap();
    let nan = [f16::ZERO, f16::NAN, f16::ZERO, f16::ZERO];
    assert_eq!(index.add(&nan).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let short = [f16::ZERO; 3];
    assert_eq!(index.add(&short[..]).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(index.len(), 0);
    let bits = Index::new(Kind::FLAT, Metric::HAMMING, 64).unwrap();
    let err = bits.add(&[f16::ONE; 64]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("float16"), "{}", err.message());
}
