from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("documents", "0001_initial")]
    backwards_compatible = ["ALTER_COLUMN"]  # varchar(100) -> varchar(200): the old code's values still fit
    operations = [migrations.AlterField("widget", "title", models.CharField(max_length=200))]
