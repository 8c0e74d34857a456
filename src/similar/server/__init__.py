"""HTTP service: JSON API, embeddable widget, reload without downtime."""
