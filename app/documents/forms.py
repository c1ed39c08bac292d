from django import forms


class UploadForm(forms.Form):
    """Renders the upload field; the upload itself is read and checked by documents.uploads."""

    file = forms.FileField(label="Document")
