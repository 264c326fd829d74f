"""The paper reports: figures and HTML drawn from model/ results (plotly lives here, not in model/)."""
