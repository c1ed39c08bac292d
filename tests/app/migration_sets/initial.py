"""The history every set starts from: the shipped 0001 (same name as documents.0001_initial, applied)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(name="Widget", fields=[
            ("id", models.BigAutoField(primary_key=True, serialize=False)),
            ("title", models.CharField(max_length=100)),
        ]),
    ]
