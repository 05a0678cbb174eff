//! Which user a new upstream identity becomes, given the user (if any) that already
//! holds its e-mail address. Both drivers ask this one question, so the rules live in
//! one place.

use crate::Error;

/// What linking a new identity does.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Nobody holds the address: a new user.
    NewUser,
    /// The holder's address is verified and so is the identity's: both are the same
    /// person, so the identity joins that user.
    Join(String),
    /// The holder's address was never verified, and this identity's is: it gets a user
    /// of its own, and the holder gives the address up.
    ///
    /// Why a user of its own, and not the holder's: an unverified claim proves nothing,
    /// so whoever made it (say, someone who registered the victim's address at a
    /// provider that does not check it, and signed in first) must end up with nothing
    /// of the verified owner's, and the verified owner with nothing the claimant put
    /// there. Joining the holder would hand the claimant's still-linked account and
    /// sessions the owner's chats; detaching them instead would hand the owner whatever
    /// the claimant planted, and delete the data of a person whose own earlier sign-in
    /// happened to be unverified. With separate users nothing is shared and nothing is
    /// deleted: the holder keeps its accounts, sessions and data under a placeholder
    /// address ([`displaced_email`]).
    Displace(String),
}

/// The decision. `holder` is the user holding the address: its id and whether its
/// address is verified. An unverified identity never receives an existing user
/// ([`Error::UnverifiedEmailTaken`]): it could be anyone's claim to anyone's address.
pub(crate) fn claim(holder: Option<(String, bool)>, identity_verified: bool) -> Result<Claim, Error> {
    match holder {
        None => Ok(Claim::NewUser),
        Some(_) if !identity_verified => Err(Error::UnverifiedEmailTaken),
        Some((id, true)) => Ok(Claim::Join(id)),
        Some((id, false)) => Ok(Claim::Displace(id)),
    }
}

/// The address a displaced user is left with: unique, and undeliverable (`.invalid`
/// is reserved for that, RFC 2606), so nothing ever links to it by e-mail again.
pub(crate) fn displaced_email(user_id: &str) -> String {
    format!("unverified-{user_id}@displaced.invalid")
}

/// How addresses are stored and compared: trimmed and lowercased, as better-auth keeps
/// them, so `Ada@Example.com` and `ada@example.com` are one address everywhere.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_joins_verified_and_displaces_unverified() {
        assert_eq!(claim(None, false).unwrap(), Claim::NewUser);
        assert_eq!(claim(None, true).unwrap(), Claim::NewUser);
        assert_eq!(claim(Some(("u".into(), true)), true).unwrap(), Claim::Join("u".into()));
        assert_eq!(claim(Some(("u".into(), false)), true).unwrap(), Claim::Displace("u".into()));
        assert!(matches!(claim(Some(("u".into(), true)), false), Err(Error::UnverifiedEmailTaken)));
        assert!(matches!(claim(Some(("u".into(), false)), false), Err(Error::UnverifiedEmailTaken)));
    }

    #[test]
    fn addresses_are_trimmed_and_lowercased() {
        assert_eq!(normalize_email("  Ada@Example.COM "), "ada@example.com");
    }
}
