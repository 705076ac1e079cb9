"""The `local` provider: a real scikit-learn text classifier trained and served on this machine."""
