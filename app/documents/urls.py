from django.urls import path

from . import api, views

app_name = "documents"

urlpatterns = [
    path("", views.index, name="index"),
    path("documents/<int:pk>/download/", views.download, name="download"),
    path("documents/<int:pk>/delete/", views.delete, name="delete"),
    path("api/documents/", api.documents, name="api-list"),
    path("api/documents/<int:pk>/", api.document, name="api-detail"),
]
