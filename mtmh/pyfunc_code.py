"""The code MLflow stores with the registered model, as "models from code".

MLflow copies this file into the logged model and runs it when the model is loaded, so
loading needs the installed ``mtmh`` package and unpickles nothing.
"""

from mlflow.models import set_model

from mtmh.pyfunc import SimilarItemsModel

set_model(SimilarItemsModel())
