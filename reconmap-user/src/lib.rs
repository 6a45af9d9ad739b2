//! ReconMap: locate where on a network path SMTP STARTTLS gets stripped.
