"""What operations see: metrics declared once, scrape-time gauges, consumer lag."""
