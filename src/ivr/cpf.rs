//! The Brazilian CPF (Cadastro de Pessoas Físicas) check digits.
//!
//! Eleven digits, the last two computed from the first nine (mod 11). Numbers with all
//! digits equal pass the arithmetic but are invalid by rule (000.000.000-00 and so on).

/// Whether `digits` is a valid CPF: exactly 11 ASCII digits with both check digits right.
pub fn is_valid_cpf(digits: &str) -> bool {
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 11 || digits.chars().count() != 11 {
        return false;
    }
    if d.iter().all(|&x| x == d[0]) {
        return false;
    }
    check_digit(&d[..9]) == d[9] && check_digit(&d[..10]) == d[10]
}

/// The next check digit of `prefix` (9 digits for the first, 10 for the second).
fn check_digit(prefix: &[u32]) -> u32 {
    let weight_top = prefix.len() as u32 + 1;
    let sum: u32 = prefix
        .iter()
        .enumerate()
        .map(|(i, &x)| x * (weight_top - i as u32))
        .sum();
    let rest = (sum * 10) % 11;
    if rest == 10 { 0 } else { rest }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_cpfs() {
        // Well-known test CPFs (generated, belong to nobody).
        assert!(is_valid_cpf("52998224725"));
        assert!(is_valid_cpf("11144477735"));
        assert!(is_valid_cpf("12345678909"));
    }

    #[test]
    fn rejects_wrong_check_digits() {
        assert!(!is_valid_cpf("52998224724"));
        assert!(!is_valid_cpf("52998224715"));
        assert!(!is_valid_cpf("12345678900"));
    }

    #[test]
    fn rejects_wrong_length_and_repeated_digits() {
        assert!(!is_valid_cpf("5299822472"));
        assert!(!is_valid_cpf("529982247250"));
        assert!(!is_valid_cpf(""));
        assert!(!is_valid_cpf("11111111111"));
        assert!(!is_valid_cpf("00000000000"));
        assert!(!is_valid_cpf("529.982.247-25"));
        assert!(!is_valid_cpf("5299822472#"));
    }
}
