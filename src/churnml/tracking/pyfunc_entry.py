"""Entry file of the logged pyfunc ("models from code"): MLflow executes it on load."""

from mlflow.models import set_model

from churnml.tracking.pyfunc import ChurnmlPyfunc

set_model(ChurnmlPyfunc())
