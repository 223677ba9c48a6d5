"""agency-gateway: hands severe cases to agencies and law firms and brings their work back."""
