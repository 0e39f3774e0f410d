"""Venue edges: one package per venue behind `venue.VenueAdapter`; the framework owns the loop."""
