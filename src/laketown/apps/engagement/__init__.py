"""Customer engagement (the open replacement of Amazon Pinpoint): endpoints, segments, templates,
campaigns and journeys over SMTP and webhooks, open/click tracking, engagement events to the lake,
a churn model loop and KPIs."""
